import { EventEmitter } from 'node:events';

/**
 * The event bus behind `GET /events`. Parts emit Docker-shaped events; subscribers get them
 * live, and a bounded history serves `since`.
 */

export type EventType = 'container' | 'image' | 'network' | 'volume' | 'daemon' | 'builder' | 'plugin';

export interface EngineEvent {
  Type: EventType;
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: 'local';
  time: number; // unix seconds
  timeNano: number;
}

export type EmitFn = (type: EventType, action: string, id: string, attributes?: Record<string, string>) => void;

const HISTORY = 1024;

export class EventBus {
  private readonly emitter = new EventEmitter();
  private readonly history: EngineEvent[] = [];

  constructor() {
    this.emitter.setMaxListeners(0);
  }

  emit: EmitFn = (type, action, id, attributes = {}) => {
    const now = process.hrtime.bigint();
    const wall = BigInt(Date.now()) * 1_000_000n + (now % 1_000_000n);
    const event: EngineEvent = {
      Type: type,
      Action: action,
      Actor: { ID: id, Attributes: attributes },
      scope: 'local',
      time: Number(wall / 1_000_000_000n),
      timeNano: Number(wall),
    };
    this.history.push(event);
    if (this.history.length > HISTORY) this.history.shift();
    this.emitter.emit('event', event);
  };

  /** Events already recorded with timeNano in [sinceNano, untilNano]. */
  past(sinceNano: number, untilNano = Number.POSITIVE_INFINITY): EngineEvent[] {
    return this.history.filter((e) => e.timeNano >= sinceNano && e.timeNano <= untilNano);
  }

  subscribe(fn: (e: EngineEvent) => void): () => void {
    this.emitter.on('event', fn);
    return () => this.emitter.off('event', fn);
  }
}

/** The legacy fields Docker still sends before API 1.52 (`status`, `id`, `from`). */
export function withLegacyFields(e: EngineEvent): Record<string, unknown> {
  const legacy: Record<string, unknown> = {};
  if (e.Type === 'container' || e.Type === 'image') {
    legacy.status = e.Action;
    legacy.id = e.Actor.ID;
    if (e.Type === 'container' && e.Actor.Attributes.image) legacy.from = e.Actor.Attributes.image;
  }
  return { ...legacy, ...e };
}
