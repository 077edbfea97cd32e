#!/bin/sh
# An executable inventory with _meta: `--host` must never be called.
case "$1" in
  --list) cat "$(dirname "$0")/dynamic-list.json" ;;
  *) echo "--host must not be called when --list has _meta" >&2; exit 7 ;;
esac
