// Parsing at the HTTP edge: every body, path parameter, query and header that matters goes through zod here, and a
// failure is a 400 validation_failed naming each field. Nothing unparsed reaches a use case or a workflow.
import type { z } from 'zod';
import { withStorableText } from '../../gateways/storable-text.schema';
import { validationFailed, type FieldProblem } from './errors';

/**
 * Parses `input` or throws a 400 validation_failed listing every problem by field. Every string in the input must
 * be storable text (no NUL, no lone surrogate) whatever the schema says, so nothing unstorable reaches PostgreSQL.
 */
export function parseOrThrow<S extends z.ZodType>(schema: S, input: unknown, fieldPrefix?: string): z.infer<S> {
  const result = withStorableText(schema).safeParse(input);
  if (result.success) return result.data;
  throw validationFailed(fieldProblems(result.error, fieldPrefix));
}

export function fieldProblems(error: z.ZodError, fieldPrefix?: string): FieldProblem[] {
  return error.issues.flatMap((issue) => {
    const base = [fieldPrefix, ...issue.path.map(String)].filter((part) => part !== undefined && part !== '');
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({ field: [...base, key].join('.'), message: 'is not an accepted field' }));
    }
    return [{ field: base.length > 0 ? base.join('.') : '(body)', message: issue.message }];
  });
}
