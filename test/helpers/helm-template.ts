/**
 * A renderer for the subset of Helm's template language that deploy/helm/mcp-guard uses, for tests on a
 * machine without `helm` (neither Debian nor npm ship it). It follows Go's text/template and Sprig for
 * that subset and throws on anything else, so the chart cannot use a construct these tests do not check.
 *
 * Supported: `{{ }}` with `{{-`/`-}}` trimming and template comments; `define`, `if`/`else`/`end`;
 * pipelines of terms (`.`, `.Values.a.b`, `.Release.X`, `.Chart.X`, "strings", numbers, true/false)
 * and the functions include, toYaml, nindent, indent, quote, default, trunc, trimSuffix, printf (%s, %d),
 * sha256sum and not. Not supported: range, with, variables, parentheses, tpl, lookup, and the rest of
 * Sprig. What Helm does beyond rendering (schema checks, `helm lint`, hooks, the cluster's admission)
 * is not reproduced.
 */

import { createHash } from 'node:crypto';
import { stringify } from 'yaml';

type Node =
  | { readonly kind: 'text'; text: string }
  | { readonly kind: 'action'; readonly pipeline: string }
  | { readonly kind: 'if'; readonly condition: string; readonly body: Node[]; readonly otherwise: Node[] };

interface Context {
  readonly Values: unknown;
  readonly Release: Record<string, unknown>;
  readonly Chart: Record<string, unknown>;
}

/** The templates of a chart: `define`d names from every file, and each file's top-level nodes. */
export class HelmTemplates {
  private readonly defines = new Map<string, Node[]>();
  private readonly files = new Map<string, Node[]>();

  constructor(sources: Readonly<Record<string, string>>) {
    for (const [name, text] of Object.entries(sources)) this.files.set(name, this.parse(text, name));
  }

  /** Renders one file with `.Values`, `.Release` and `.Chart`. */
  render(file: string, context: Context): string {
    const nodes = this.files.get(file);
    if (!nodes) throw new Error(`no template ${file}`);
    return this.run(nodes, context, context);
  }

  private parse(text: string, file: string): Node[] {
    // Lex into text and actions, applying the trim markers to the neighbouring text.
    const tokens: Array<{ text?: string; action?: string }> = [];
    let at = 0;
    while (at < text.length) {
      const open = text.indexOf('{{', at);
      if (open < 0) {
        tokens.push({ text: text.slice(at) });
        break;
      }
      tokens.push({ text: text.slice(at, open) });
      const close = text.indexOf('}}', open);
      if (close < 0) throw new Error(`${file}: unclosed action`);
      let inner = text.slice(open + 2, close);
      if (inner.startsWith('-') && /^-\s/.test(inner)) {
        const last = tokens.at(-1);
        if (last?.text !== undefined) last.text = last.text.replace(/\s+$/, '');
        inner = inner.slice(1);
      }
      at = close + 2;
      if (/\s-$/.test(inner)) {
        inner = inner.slice(0, -1);
        const rest = /^\s*/.exec(text.slice(at))?.[0].length ?? 0;
        at += rest;
      }
      inner = inner.trim();
      if (!(inner.startsWith('/*') && inner.endsWith('*/'))) tokens.push({ action: inner });
    }
    // Build the tree; `define` bodies are kept apart.
    const root: Node[] = [];
    const stack: Array<{ nodes: Node[]; node?: Extract<Node, { kind: 'if' }>; define?: string }> = [
      { nodes: root },
    ];
    const top = () => stack[stack.length - 1] as (typeof stack)[number];
    for (const token of tokens) {
      if (token.text !== undefined) {
        if (token.text) top().nodes.push({ kind: 'text', text: token.text });
        continue;
      }
      const action = token.action as string;
      const define = /^define\s+"([^"]+)"$/.exec(action);
      if (define) {
        stack.push({ nodes: [], define: define[1] });
      } else if (action.startsWith('if ')) {
        const node: Extract<Node, { kind: 'if' }> = {
          kind: 'if',
          condition: action.slice(3).trim(),
          body: [],
          otherwise: [],
        };
        top().nodes.push(node);
        stack.push({ nodes: node.body, node });
      } else if (action === 'else') {
        const frame = top();
        if (!frame.node) throw new Error(`${file}: else outside if`);
        stack[stack.length - 1] = { nodes: frame.node.otherwise, node: frame.node };
      } else if (action === 'end') {
        const frame = stack.pop();
        if (!frame || stack.length === 0) throw new Error(`${file}: end without a block`);
        if (frame.define !== undefined) this.defines.set(frame.define, frame.nodes);
      } else if (/^(range|with|block|template|else if)\b/.test(action) || action.includes('$')) {
        throw new Error(`${file}: "${action}" is outside the subset these tests render`);
      } else {
        top().nodes.push({ kind: 'action', pipeline: action });
      }
    }
    if (stack.length !== 1) throw new Error(`${file}: a block is not closed`);
    return root;
  }

  private run(nodes: readonly Node[], dot: unknown, context: Context): string {
    let out = '';
    for (const node of nodes) {
      if (node.kind === 'text') out += node.text;
      else if (node.kind === 'action') out += print(this.pipeline(node.pipeline, dot, context));
      else
        out += this.run(
          truthy(this.pipeline(node.condition, dot, context)) ? node.body : node.otherwise,
          dot,
          context,
        );
    }
    return out;
  }

  private pipeline(text: string, dot: unknown, context: Context): unknown {
    let value: unknown;
    let first = true;
    for (const command of splitOutsideQuotes(text, '|')) {
      const words = words_(command);
      const [head, ...rest] = words;
      if (head === undefined) throw new Error(`empty command in "${text}"`);
      const args = rest.map((w) => this.term(w, dot, context));
      if (!first) args.push(value);
      if (FUNCTIONS.has(head)) value = this.call(head, args, context);
      else if (args.length === 0 && first) value = this.term(head, dot, context);
      else throw new Error(`unknown function "${head}" in "${text}"`);
      first = false;
    }
    return value;
  }

  private term(word: string, dot: unknown, context: Context): unknown {
    if (word === '.') return dot;
    if (word.startsWith('"')) return JSON.parse(word);
    if (/^-?\d+$/.test(word)) return Number(word);
    if (word === 'true' || word === 'false') return word === 'true';
    if (word.startsWith('.')) {
      let value: unknown = dot;
      for (const key of word.slice(1).split('.')) {
        if (value === null || typeof value !== 'object') return undefined;
        value = (value as Record<string, unknown>)[key];
      }
      return value;
    }
    if (FUNCTIONS.has(word)) return this.call(word, [], context);
    throw new Error(`"${word}" is outside the subset these tests render`);
  }

  private call(name: string, args: unknown[], context: Context): unknown {
    const text = (v: unknown) => print(v);
    switch (name) {
      case 'include': {
        const body = this.defines.get(String(args[0]));
        if (!body) throw new Error(`include of an unknown template "${String(args[0])}"`);
        return this.run(body, args[1], context);
      }
      case 'toYaml':
        // Helm drops the trailing newline.
        return args[0] === undefined ? '' : stringify(args[0], { lineWidth: 0 }).replace(/\n$/, '');
      case 'indent':
        return indent(Number(args[0]), text(args[1]));
      case 'nindent':
        return `\n${indent(Number(args[0]), text(args[1]))}`;
      case 'quote':
        return JSON.stringify(text(args[0]));
      case 'default':
        return truthy(args[1]) ? args[1] : args[0];
      case 'trunc':
        return text(args[1]).slice(0, Number(args[0]));
      case 'trimSuffix': {
        const [suffix, value] = [text(args[0]), text(args[1])];
        return suffix && value.endsWith(suffix) ? value.slice(0, -suffix.length) : value;
      }
      case 'printf': {
        const values = args.slice(1);
        return text(args[0]).replace(/%[sd]/g, () => text(values.shift()));
      }
      case 'sha256sum':
        return createHash('sha256').update(text(args[0])).digest('hex');
      case 'not':
        return !truthy(args[0]);
      default:
        throw new Error(`unknown function "${name}"`);
    }
  }
}

const FUNCTIONS = new Set([
  'include',
  'toYaml',
  'indent',
  'nindent',
  'quote',
  'default',
  'trunc',
  'trimSuffix',
  'printf',
  'sha256sum',
  'not',
]);

/** Go template truth: false, 0, nil, and empty strings, lists and maps are false. */
function truthy(value: unknown): boolean {
  if (value === undefined || value === null || value === false || value === 0 || value === '') return false;
  if (Array.isArray(value)) return value.length > 0;
  if (typeof value === 'object') return Object.keys(value).length > 0;
  return true;
}

/** How Go prints a value into the output (a missing value prints as nothing, as Helm does). */
function print(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'object') throw new Error('a map or list printed without toYaml');
  return String(value);
}

function indent(n: number, text: string): string {
  const pad = ' '.repeat(n);
  return pad + text.split('\n').join(`\n${pad}`);
}

function splitOutsideQuotes(text: string, separator: string): string[] {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c === '"' && text[i - 1] !== '\\') quoted = !quoted;
    if (c === separator && !quoted) {
      parts.push(current.trim());
      current = '';
    } else current += c;
  }
  parts.push(current.trim());
  return parts;
}

function words_(command: string): string[] {
  return splitOutsideQuotes(command, ' ').filter((w) => w !== '');
}
