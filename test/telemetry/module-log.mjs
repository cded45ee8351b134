// Preloaded with `node --import` by tracing-off.test.ts: logs every module the process resolves whose URL
// matches $MODULE_LOG_MATCH, one URL a line, to $MODULE_LOG (a real record of what was loaded).
import { register } from 'node:module';

register('./module-log-hooks.mjs', import.meta.url, {
  data: { file: process.env.MODULE_LOG, match: process.env.MODULE_LOG_MATCH },
});
