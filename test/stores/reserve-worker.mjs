// A separate process reserving spend on a shared SQLite file: argv = file, key, count, amountMicros, capMicros.
import { SqliteStateStore } from '../../dist/stores/sqlite-store.js';

const [file, key, count, amount, cap] = process.argv.slice(2);
const store = new SqliteStateStore(file);
const results = await Promise.all(
  Array.from({ length: Number(count) }, () =>
    store.reserveSpend({
      amountMicros: Number(amount),
      windowStartMs: 0,
      windowMs: 86_400_000,
      buckets: [{ key, capMicros: Number(cap) }],
    }),
  ),
);
await store.close();
process.stdout.write(JSON.stringify(results.map((r) => r.ok)));
