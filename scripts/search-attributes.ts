// The search attributes as `temporal` CLI flags (`Name=Type`), derived from the typed keys the workflows upsert, so
// the dev server registers exactly what the workflows use.
import type { SearchAttributeType } from '@temporalio/common';
import { orderSearchAttributes } from '../contracts/order.contract';
import { reconciliationSearchAttributes } from '../contracts/reconciliation.contract';

const CLI_TYPE_NAMES: Readonly<Record<SearchAttributeType, string>> = {
  TEXT: 'Text',
  KEYWORD: 'Keyword',
  INT: 'Int',
  DOUBLE: 'Double',
  BOOL: 'Bool',
  DATETIME: 'Datetime',
  KEYWORD_LIST: 'KeywordList',
};

export const SEARCH_ATTRIBUTE_FLAGS: readonly string[] = [
  ...Object.values(orderSearchAttributes),
  ...Object.values(reconciliationSearchAttributes),
].map((key) => `${key.name}=${CLI_TYPE_NAMES[key.type]}`);
