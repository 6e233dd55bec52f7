// `node --import ./scripts/ts-loader/register.mjs`: runs the TypeScript sources without
// tsx, from the JavaScript `npm test` compiled before the run (scripts/test.mjs sets
// TS_PRECOMPILED_DIR and TS_PRECOMPILED_ROOT), so a test process pays for one module hook
// instead of tsx's two per module. Without those variables each `.ts` file is compiled when
// loaded. Stack traces point into the `.ts` files (source maps on, as with tsx).
import { register } from 'node:module';

process.setSourceMapsEnabled(true);
register('./hooks.mjs', import.meta.url, {
  data: { root: process.env.TS_PRECOMPILED_ROOT ?? null, out: process.env.TS_PRECOMPILED_DIR ?? null },
});
