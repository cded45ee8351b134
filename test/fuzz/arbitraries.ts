/**
 * fast-check generators of hostile JSON-RPC input, shared by the door fuzz tests: random text, JSON
 * values, message-shaped objects with wrong field types, prototype keys, deep nesting, huge numbers.
 */
import fc from 'fast-check';

const METHODS = [
  'initialize',
  'ping',
  'tools/list',
  'tools/call',
  'prompts/get',
  'resources/read',
  'resources/subscribe',
  'completion/complete',
  'logging/setLevel',
  'tasks/get',
  'notifications/cancelled',
  'notifications/initialized',
  'x',
  '',
];

const anyValue = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(null, true, 1.5, -1, 2 ** 53 + 2, '', '__proto__', {}, [], { __proto__: null }),
);

/** Objects that carry prototype-pollution keys (written as own keys, as JSON.parse creates them). */
const pollution = fc.constantFrom(
  '{"__proto__":{"polluted":"yes"}}',
  '{"constructor":{"prototype":{"polluted":"yes"}}}',
  '{"a":{"__proto__":{"polluted":"yes"},"prototype":{"polluted":"yes"}}}',
);

/** A message-shaped object: the right keys, any (often wrong) values. */
const messageish = fc
  .record(
    {
      jsonrpc: fc.oneof(fc.constant('2.0'), anyValue),
      id: fc.oneof(fc.integer({ min: 1, max: 1e6 }), fc.string({ maxLength: 8 }), anyValue),
      method: fc.oneof(fc.constantFrom(...METHODS), anyValue),
      params: fc.oneof(
        fc.record(
          {
            name: fc.oneof(fc.constantFrom('echo', 'pay', 'add', 'nope', 'delete_file'), anyValue),
            arguments: anyValue,
            uri: fc.oneof(fc.constantFrom('test://t/static', 'file:///etc/passwd'), anyValue),
            cursor: anyValue,
            _meta: anyValue,
          },
          { requiredKeys: [] },
        ),
        anyValue,
      ),
      result: anyValue,
      error: anyValue,
    },
    { requiredKeys: [] },
  )
  .map((o) => JSON.stringify(o));

/** One line of hostile input (without its newline). */
export const hostileLine: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: messageish },
  { weight: 1, arbitrary: fc.string({ maxLength: 200 }).map((s) => s.replace(/\n/g, ' ')) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)) },
  {
    weight: 1,
    arbitrary: pollution.map(
      (p) =>
        `{"jsonrpc":"2.0","id":${Math.floor(Math.random() * 1e6)},"method":"tools/call","params":{"name":"echo","arguments":${p},"_meta":${p}}}`,
    ),
  },
  {
    weight: 1,
    arbitrary: fc
      .integer({ min: 1, max: 20_000 })
      .map((d) => `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":${'['.repeat(d)}${']'.repeat(d)}}}`),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '{"jsonrpc":"2.0","id":1e400,"method":"ping"}',
      '{"jsonrpc":"2.0","id":-0,"method":"ping"}',
      '{"jsonrpc":"2.0","id":123456789012345678901234567890,"method":"ping"}',
      '{"jsonrpc":"2.0","id":"\\ud800","method":"ping"}',
      '\ufeff{"jsonrpc":"2.0","id":1,"method":"ping"}',
      '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","name":"delete_file"}}',
      '[]',
      '[{"jsonrpc":"2.0","id":1,"method":"ping"}]',
      '{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":{"__proto__":1}}}',
    ),
  },
);
