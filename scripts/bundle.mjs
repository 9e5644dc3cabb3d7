// Bundles pierd and pier into one file each (dist/pierd.mjs, dist/pier.mjs): one module
// instead of hundreds starts faster and keeps the daemon's idle memory lower (unused parts of
// dependencies, such as zod's locales, are left out). koffi stays external: it loads a
// native library shipped in its package.
import { build } from 'esbuild';

const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['koffi'],
  sourcemap: true,
  logLevel: 'warning',
  // Some dependencies still call require(); give the bundle one.
  banner: { js: "import { createRequire as __pierRequire } from 'node:module'; const require = __pierRequire(import.meta.url);" },
};

await Promise.all([
  build({ ...common, entryPoints: ['dist/src/daemon/main.js'], outfile: 'dist/pierd.mjs' }),
  build({ ...common, entryPoints: ['dist/src/cli/main.js'], outfile: 'dist/pier.mjs' }),
]);
