/** A small shell reader: enough of bash for documentation commands. */

export interface Word {
  /** The word with quotes removed (expansions left as written). */
  text: string;
  /** Contains a `$` expansion or a glob, so its value is not known statically. */
  dynamic: boolean;
}

export interface SimpleCommand {
  assignments: Array<{ name: string; value: string }>;
  words: Word[];
}

/** Splits one logical line into simple commands; `$(...)` and `<(...)` bodies are returned as commands too. */
export function parseCommands(line: string): SimpleCommand[] {
  const commands: SimpleCommand[] = [];
  let words: Word[] = [];
  let current = '';
  let dynamic = false;
  let inWord = false;
  const endWord = (): void => {
    if (inWord) words.push({ text: current, dynamic });
    current = '';
    dynamic = false;
    inWord = false;
  };
  const endCommand = (): void => {
    endWord();
    if (words.length > 0) commands.push(toSimple(words));
    words = [];
  };
  /** Index just past the `)` that closes a `(` opened before `start`. */
  const closing = (start: number): number => {
    let depth = 1;
    let quote: string | undefined;
    for (let j = start; j < line.length; j++) {
      const c = line[j];
      if (quote) {
        if (c === quote) quote = undefined;
        else if (c === '\\' && quote === '"') j++;
      } else if (c === "'" || c === '"') quote = c;
      else if (c === '(') depth++;
      else if (c === ')' && --depth === 0) return j;
    }
    return line.length;
  };
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    const next = line[i + 1];
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      current += line.slice(i + 1, end === -1 ? line.length : end);
      inWord = true;
      i = end === -1 ? line.length : end;
    } else if (c === '"') {
      inWord = true;
      let j = i + 1;
      for (; j < line.length && line[j] !== '"'; j++) {
        if (line[j] === '\\') {
          current += line[j + 1] ?? '';
          j++;
        } else if (line[j] === '$' && line[j + 1] === '(') {
          const end = closing(j + 2);
          commands.push(...parseCommands(line.slice(j + 2, end)));
          current += '$(...)';
          dynamic = true;
          j = end;
        } else {
          if (line[j] === '$') dynamic = true;
          current += line[j];
        }
      }
      i = j;
    } else if (c === '\\') {
      current += next ?? '';
      inWord = true;
      i++;
    } else if ((c === '$' || c === '<') && next === '(') {
      const end = closing(i + 2);
      commands.push(...parseCommands(line.slice(i + 2, end)));
      current += c === '$' ? '$(...)' : '<(...)';
      dynamic = true;
      inWord = true;
      i = end;
    } else if (c === '#' && !inWord) {
      break; // a comment runs to the end of the line
    } else if (c === ' ' || c === '\t') {
      endWord();
    } else if (c === ';' || c === '|' || c === '&') {
      endCommand();
      if (next === c) i++;
    } else if (c === '>' || (c === '<' && !inWord)) {
      // A redirection: drop it and its target.
      endWord();
      if (next === '>' || next === '&') i++;
      while (line[i + 1] === ' ') i++;
      let j = i + 1;
      while (j < line.length && line[j] !== ' ') j++;
      i = j;
    } else {
      if (c === '$' || c === '*') dynamic = true;
      current += c;
      inWord = true;
    }
  }
  endCommand();
  return commands;
}

function toSimple(words: Word[]): SimpleCommand {
  const assignments: SimpleCommand['assignments'] = [];
  let i = 0;
  for (; i < words.length; i++) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(words[i]!.text);
    if (!m) break;
    assignments.push({ name: m[1]!, value: m[2]! });
  }
  // A redirection like `2>&1` leaves a bare digit behind.
  const rest = words.slice(i).filter((w) => !/^[0-9]$/.test(w.text));
  return { assignments, words: rest };
}

/** Logical lines of a block: continuations joined, blank lines dropped. */
export function logicalLines(body: string, firstLine: number): Array<{ line: number; text: string }> {
  const out: Array<{ line: number; text: string }> = [];
  let pending: { line: number; text: string } | undefined;
  body.split('\n').forEach((raw, i) => {
    const n = firstLine + 1 + i;
    const continued = /\\\s*$/.test(raw);
    const text = continued ? raw.replace(/\\\s*$/, ' ') : raw;
    pending = pending ? { line: pending.line, text: pending.text + text } : { line: n, text };
    if (!continued) {
      if (pending.text.trim() !== '') out.push(pending);
      pending = undefined;
    }
  });
  if (pending && pending.text.trim() !== '') out.push(pending);
  return out;
}
