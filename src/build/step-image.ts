import type { Image } from '../images/images.js';
import type { History, OciImage } from '../images/types.js';
import type { BuildImages } from './build.js';
import type { StageState, StepLayer } from './step.js';

/**
 * A step's image: the stage's config with the step's history entry (and layer) appended.
 * The config's bytes, and so the image's ID, depend only on what the step wrote and when.
 */

/** Write a step's image, a child of the stage's current image (when it has one). */
export async function commitImage(images: BuildImages, state: StageState, history: History, layer?: StepLayer): Promise<Image> {
  const config: OciImage = structuredClone(state.config);
  const created = new Date().toISOString();
  config.created = created;
  config.history = [...(config.history ?? []), historyEntry(history, created)];
  const layers = [...state.layers];
  if (layer) {
    config.rootfs = { type: 'layers', diff_ids: [...config.rootfs.diff_ids, layer.diffId] };
    layers.push(layer.descriptor);
  }
  return images.createImage({ config, layers, ...(state.imageId ? { parent: state.imageId } : {}) });
}

/**
 * A history entry with its keys in the order the image config schema reads them back, so an
 * entry written now and one restored from another image give the same config bytes (and ID).
 */
export function historyEntry(h: History, created: string): History {
  return {
    created,
    ...(h.created_by !== undefined ? { created_by: h.created_by } : {}),
    ...(h.author !== undefined ? { author: h.author } : {}),
    ...(h.comment !== undefined ? { comment: h.comment } : {}),
    ...(h.empty_layer ? { empty_layer: true } : {}),
  };
}
