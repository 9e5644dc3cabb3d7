// Bundles pierd and pier into one file each (dist/pierd.mjs, dist/pier.mjs): one module
// instead of hundreds starts faster and keeps the daemon's idle memory lower. koffi stays
// external: it loads a native library shipped in its package.
//
// What keeps the daemon's heap small (measured with a fresh pierd's VmRSS):
// - ASCII output: V8 keeps the bundle's source in memory for lazy compilation, as a one-byte
//   string only when every character is Latin-1; one arrow in a comment doubles it. esbuild
//   escapes strings and regexps (charset ascii); minifying whitespace drops the comments.
// - zod's error messages in English only: zod bundles every locale (about 360 KB of source)
//   behind one `locales` namespace that esbuild cannot prune.
// Identifiers are not minified, so stack traces keep their function names; the source maps
// (dist/*.mjs.map) map them back to the TypeScript.
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';

/** Resolve zod's `../locales/index.js` to a module exporting only `en`. */
const zodEnglishOnly = {
  name: 'zod-english-only',
  setup(b) {
    b.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      /\/node_modules\/zod\/v4\/(classic|mini|core)\//.test(args.importer)
        ? { path: args.importer.replace(/\/v4\/(classic|mini|core)\/[^/]*$/, '/v4/locales/en.js'), namespace: 'zod-locales' }
        : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'zod-locales' }, (args) => ({ contents: `export { default as en } from ${JSON.stringify(args.path)};`, resolveDir: '/' }));
  },
};

const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['koffi'],
  sourcemap: true,
  charset: 'ascii',
  minifyWhitespace: true,
  minifySyntax: true,
  plugins: [zodEnglishOnly],
  logLevel: 'warning',
  // Some dependencies still call require(); give the bundle one.
  banner: { js: "import { createRequire as __pierRequire } from 'node:module'; const require = __pierRequire(import.meta.url);" },
};

// The pull's unpack worker gets its own small bundle: a worker starting from the module tsc
// wrote resolves and reads dozens of files (about 140 ms), from the daemon's bundle it would
// carry the whole daemon in its heap.
const outputs = {
  'dist/pierd.mjs': 'dist/src/daemon/main.js',
  'dist/pier.mjs': 'dist/src/cli/main.js',
  'dist/unpack-worker.mjs': 'dist/src/distribution/unpack-thread.js',
};
await Promise.all(Object.entries(outputs).map(([outfile, entry]) => build({ ...common, entryPoints: [entry], outfile })));
for (const outfile of Object.keys(outputs)) {
  const bytes = readFileSync(outfile);
  const at = bytes.findIndex((b) => b > 0x7f);
  if (at >= 0) {
    const line = bytes.subarray(0, at).toString('latin1').split('\n').length;
    throw new Error(`${outfile}:${line}: a non-ASCII character (a regexp literal? write it as \\uXXXX): the bundle must stay ASCII`);
  }
}
