#!/usr/bin/env bash
# Registers orderpay's custom search attributes on a Temporal cluster. Safe to run again: attributes that already
# exist with the right type are skipped, and one that exists with another type is an error (a type cannot change).
#
#   TEMPORAL_ADDRESS=temporal.internal:7233 TEMPORAL_NAMESPACE=payments scripts/create-search-attributes.sh
#   scripts/create-search-attributes.sh --list    # prints the attributes it would register, contacts nothing
#
# The `temporal` CLI reads its connection settings from the environment (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
# TEMPORAL_API_KEY, TEMPORAL_TLS_*), so TLS and API keys work the same way. `npm start` registers these on its own
# dev server; this script is for real clusters, and docker-compose.yml runs it once after the server is up.
set -euo pipefail

# The attributes come from ops/temporal/search-attributes.txt (a unit test holds it equal to the workflows' typed
# keys), so the script needs neither Node nor a build: docker-compose mounts the list next to it.
LIST="${ORDERPAY_SEARCH_ATTRIBUTES:-$(dirname "${BASH_SOURCE[0]}")/../ops/temporal/search-attributes.txt}"
if [[ ! -r "$LIST" ]]; then
  echo "create-search-attributes: cannot read the attribute list at $LIST; set ORDERPAY_SEARCH_ATTRIBUTES" >&2
  exit 1
fi
mapfile -t ATTRIBUTES < <(sed -nE 's/^([A-Za-z]+=[A-Za-z]+)[[:space:]]*$/\1/p' "$LIST")
if ((${#ATTRIBUTES[@]} == 0)); then
  echo "create-search-attributes: no Name=Type lines in $LIST" >&2
  exit 1
fi
if [[ "${1:-}" == "--list" ]]; then
  printf '%s\n' "${ATTRIBUTES[@]}"
  exit 0
fi

export TEMPORAL_ADDRESS="${TEMPORAL_ADDRESS:-127.0.0.1:7233}"
export TEMPORAL_NAMESPACE="${TEMPORAL_NAMESPACE:-default}"
TEMPORAL="${TEMPORAL_CLI_PATH:-temporal}"
WAIT_SECONDS="${WAIT_SECONDS:-60}"

if ! command -v "$TEMPORAL" >/dev/null 2>&1; then
  echo "create-search-attributes: the temporal CLI ($TEMPORAL) is not installed; set TEMPORAL_CLI_PATH" >&2
  exit 1
fi

# A freshly started server answers health checks a little before its namespaces are loaded.
deadline=$((SECONDS + WAIT_SECONDS))
until existing="$("$TEMPORAL" operator search-attribute list --output json 2>/dev/null)"; do
  if ((SECONDS >= deadline)); then
    echo "create-search-attributes: cannot list search attributes of namespace $TEMPORAL_NAMESPACE at $TEMPORAL_ADDRESS" >&2
    "$TEMPORAL" operator search-attribute list --output json >/dev/null
    exit 1
  fi
  echo "create-search-attributes: waiting for $TEMPORAL_ADDRESS (namespace $TEMPORAL_NAMESPACE)..."
  sleep 2
done

# `KeywordList` is listed as INDEXED_VALUE_TYPE_KEYWORD_LIST.
indexed_type() { printf 'INDEXED_VALUE_TYPE_%s' "$(printf '%s' "$1" | sed -E 's/([a-z])([A-Z])/\1_\2/g' | tr '[:lower:]' '[:upper:]')"; }

missing=()
conflicts=0
for attribute in "${ATTRIBUTES[@]}"; do
  name="${attribute%%=*}"
  type="${attribute#*=}"
  # The JSON has one `"Name": "INDEXED_VALUE_TYPE_…"` per line; system attributes never clash with ours.
  current="$(printf '%s\n' "$existing" | sed -nE "s/^ *\"$name\": *\"([A-Z_]+)\",?\$/\1/p" | head -n 1)"
  if [[ -z "$current" ]]; then
    missing+=("$attribute")
  elif [[ "$current" == "$(indexed_type "$type")" ]]; then
    echo "create-search-attributes: $name ($type) already exists"
  else
    echo "create-search-attributes: $name exists as $current but orderpay needs $type" >&2
    conflicts=1
  fi
done

if ((conflicts)); then
  echo "create-search-attributes: a search attribute's type cannot be changed in place; nothing was created" >&2
  exit 1
fi
if ((${#missing[@]} == 0)); then
  echo "create-search-attributes: all ${#ATTRIBUTES[@]} attributes present in namespace $TEMPORAL_NAMESPACE"
  exit 0
fi
# One call per attribute: the CLI takes several --name flags but only one --type.
for attribute in "${missing[@]}"; do
  "$TEMPORAL" operator search-attribute create --name "${attribute%%=*}" --type "${attribute#*=}"
  echo "create-search-attributes: created ${attribute%%=*} (${attribute#*=})"
done
echo "create-search-attributes: created ${#missing[@]} attribute(s) in namespace $TEMPORAL_NAMESPACE at $TEMPORAL_ADDRESS"
