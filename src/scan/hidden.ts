/**
 * Invisible, control and direction-changing characters (Trojan Source, ASCII smuggling with Unicode
 * tag characters, a carriage return that lets a terminal overwrite what came before it, C1 controls
 * such as CSI). They are findings in a config (MCP-NAME-002) and must never reach a terminal or a code
 * scanning page as they are. Tab and line feed are ordinary in scripts: not findings, but escaped in
 * the text report (escapeLine).
 */
export const HIDDEN =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point.
  /[\u0000-\u0008\u000B-\u001F\u007F-\u009F\u200B-\u200F\u2028-\u202E\u2060-\u2064\u2066-\u206F\uFEFF]|[\u{E0000}-\u{E007F}]/gu;

/** `U+202E` for a character. */
export function codePoint(c: string): string {
  return `U+${(c.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
}

/** The text with every hidden character shown as `<U+XXXX>`. */
export function visible(text: string): string {
  return text.replace(HIDDEN, (c) => `<${codePoint(c)}>`);
}

/** One line of terminal output: hidden characters made visible, line feeds and tabs as `\n`, `\t`. */
export function escapeLine(text: string): string {
  return visible(text).replace(/\n/g, '\\n').replace(/\t/g, '\\t');
}
