#!/bin/bash
# check-glibc.sh DIR MAXVERSION: fails when any ELF file under DIR needs a glibc symbol version newer than
# MAXVERSION (e.g. 2.31, the boards' Ubuntu 20.04), listing every offending version and the symbols that need it.
# Reads the version-needs section (readelf -V) of every regular ELF file (symbolic links are not followed:
# their targets are checked where they are). Works on ELF files of any architecture.
set -euo pipefail
if [ $# -ne 2 ] || [ ! -d "$1" ] || ! [[ $2 =~ ^[0-9]+(\.[0-9]+)*$ ]]; then
  echo "usage: $0 DIR MAXVERSION   (e.g. $0 Payloads/aarch64 2.31)" >&2; exit 2
fi
DIR=$1 MAX=$2
command -v readelf >/dev/null || { echo "check-glibc: readelf missing (package binutils)" >&2; exit 2; }

newer() { [ "$1" != "$2" ] && [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | tail -1)" = "$1" ]; }   # $1 > $2

files=0 bad=0 overall=
while IFS= read -r -d '' f; do
  [ "$(head -c4 "$f" | od -An -c | tr -d ' ')" = '177ELF' ] || continue
  files=$((files + 1))
  # Version needs: "  0x0010:   Name: GLIBC_2.17  Flags: none  Version: 3" under "Version needs section".
  versions=$(readelf -V --wide "$f" | awk '/^Version needs section/{n=1; next} /^Version (symbols|definition) section/{n=0}
    n && match($0, /Name: GLIBC_[0-9][0-9.]*/) { print substr($0, RSTART + 12, RLENGTH - 12) }' | sort -uV)
  max=$(printf '%s\n' "$versions" | sed '/^$/d' | tail -1)
  if [ -n "$max" ] && { [ -z "$overall" ] || newer "$max" "$overall"; }; then overall=$max; fi
  offending=()
  for v in $versions; do newer "$v" "$MAX" && offending+=("$v"); done
  if [ ${#offending[@]} -eq 0 ]; then
    echo "ok    $f (${max:+needs up to GLIBC_$max}$([ -n "$max" ] || echo 'no glibc versions'))"
    continue
  fi
  bad=$((bad + 1))
  echo "FAIL  $f needs glibc newer than $MAX:"
  # undefined dynamic symbols with their versions: "... UND pthread_create@GLIBC_2.34 (3)"
  syms=$(readelf --dyn-syms --wide "$f" | awk '$7 == "UND" && $8 ~ /@GLIBC_/ { s = $8; sub(/ \(.*/, "", s); print s }')
  for v in "${offending[@]}"; do
    names=$(printf '%s\n' "$syms" | sed -n "s/@@*GLIBC_${v//./\\.}\$//p" | sort -u | paste -sd' ')
    echo "      GLIBC_$v: ${names:-(no undefined symbol names it: a versioned reference of the version-needs section)}"
  done
done < <(find "$DIR" -type f -print0 | sort -z)

if [ $files -eq 0 ]; then echo "check-glibc: no ELF files under $DIR" >&2; exit 1; fi
if [ $bad -gt 0 ]; then echo "check-glibc: $bad of $files ELF files need glibc newer than $MAX" >&2; exit 1; fi
echo "check-glibc: $files ELF files under $DIR need at most GLIBC_${overall:-none} (limit $MAX)"
