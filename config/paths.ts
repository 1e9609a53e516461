import { existsSync } from 'node:fs';
import path from 'node:path';

/** The repository root, found from this file whether it runs from source (ts-jest) or from dist/. */
export function projectRoot(): string {
  let dir = __dirname;
  while (!existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${__dirname}`);
    dir = parent;
  }
  return dir;
}

export const projectPath = (...segments: string[]): string => path.join(projectRoot(), ...segments);
