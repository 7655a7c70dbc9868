/**
 * bench/README.md is shared by several benchmarks: the serving benchmark writes the body, and the
 * others each own a section between `<!-- NAME:begin -->` and `<!-- NAME:end -->`. Each rewrites
 * its own part and keeps the rest.
 */

const begin = (name: string) => `<!-- ${name}:begin -->`;
const end = (name: string) => `<!-- ${name}:end -->`;

/** `document` with section `name` replaced by `content` (appended when it has none). */
export function replaceSection(document: string, name: string, content: string): string {
  const block = `${begin(name)}\n${content}\n${end(name)}`;
  const from = document.indexOf(begin(name));
  const to = document.indexOf(end(name));
  if (from !== -1 && to > from) return document.slice(0, from) + block + document.slice(to + end(name).length);
  return `${document.trimEnd()}\n\n${block}\n`;
}

/** Every marked section of `document`, markers included, in order. */
export function markedSections(document: string): string[] {
  return [...document.matchAll(/<!-- ([a-z-]+):begin -->[\s\S]*?<!-- \1:end -->/g)].map((match) => match[0]);
}
