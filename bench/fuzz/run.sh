#!/bin/bash
# bench/fuzz/run.sh [seconds] [target...]: builds each libFuzzer target (swiftc -sanitize=fuzzer,address over just
# the product source files it needs, no SwiftPM dependency build, no libvips) and runs it for `seconds` (default 60)
# from the committed seeds in corpus/<target>. Prints per target: execs, coverage, crashes.
# Scratch (binaries, grown corpus, crash inputs) lives in bench/fuzz/.build-fuzz (gitignored). Not part of CI.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
seconds=${1:-60}
shift || true
scratch=$here/.build-fuzz
S=$root/Sources
all_targets=(gate records pairs cgi query image)
targets=("${all_targets[@]}")
if [ $# -gt 0 ]; then targets=("$@"); fi

wire=(RecordHeader RecordType FastCGIWireError RecordBodies Record RecordDecoder NameValuePairs)
# The product files each target compiles (one module with its harness; imports of Porter's own modules dropped).
sources() {
    case $1 in
        gate) printf '%s\n' "${wire[@]/#/$S/FastCGIWire/}" | sed 's/$/.swift/'; echo "$S/PorterFastCGI/RequestGate.swift" ;;
        records|pairs) printf '%s\n' "${wire[@]/#/$S/FastCGIWire/}" | sed 's/$/.swift/' ;;
        cgi) echo "$S/FastCGIWire/CGIResponse.swift $S/Porter/HTTPHeaders.swift $S/Porter/Cookie.swift" ;;
        query) echo "$S/Porter/QueryParameters.swift $S/Porter/Cookie.swift" ;;
        image) echo "$S/PorterImages/ImageParameters.swift $S/PorterImages/ImagePresets.swift $S/PorterImages/ImageFormat.swift"
               echo "$S/Porter/QueryParameters.swift $S/Porter/Cookie.swift $S/Porter/HTTPError.swift $S/Porter/HTTPStatus.swift $S/Porter/HTTPHeaders.swift" ;;
        *) echo "unknown fuzz target $1 (targets: ${all_targets[*]})" >&2; return 1 ;;
    esac
}

build() {
    local name=$1; local src=$scratch/src/$name bin=$scratch/bin/$name
    local files; files=$(sources "$name" | tr ' ' '\n' | grep .)
    local inputs=($files "$here/targets/$name.swift" "$here/targets/Support.swift" "$0")
    if [ -x "$bin" ] && [ -z "$(find "${inputs[@]}" -newer "$bin" 2>/dev/null)" ]; then return 0; fi
    rm -rf "$src"; mkdir -p "$src" "$scratch/bin"
    for f in "${inputs[@]:0:${#inputs[@]}-1}"; do
        sed -E '/^(public |@_exported )?import (Porter|FastCGIWire|PorterImages|PorterFastCGI)$/d' "$f" > "$src/$(basename "$f")"
    done
    echo "building $name..." >&2
    swiftc -O -sanitize=fuzzer,address -parse-as-library -swift-version 6 -module-name "Fuzz_$name" \
        "$src"/*.swift -o "$bin" 2> "$scratch/bin/$name.log" || { cat "$scratch/bin/$name.log" >&2; return 1; }
}

run() {
    local name=$1; local bin=$scratch/bin/$name
    local corpus=$scratch/corpus/$name; local crashes=$scratch/crashes/$name; local log=$scratch/logs/$name.log
    mkdir -p "$corpus" "$crashes" "$scratch/logs" "$here/corpus/$name"
    : > "$log"
    local left=$seconds execs=0 cov=0 found=0 start
    # libFuzzer stops at the first crash; restart it for the time left (at most 5 crashes per target and run).
    while [ "$left" -gt 0 ] && [ "$found" -lt 5 ]; do
        start=$(date +%s)
        local before; before=$(ls "$crashes" | wc -l)
        (cd "$scratch" && SWIFT_BACKTRACE=enable=no "$bin" "$corpus" "$here/corpus/$name" -max_total_time="$left" -timeout=10 -rss_limit_mb=2048 \
            -max_len=4096 -artifact_prefix="$crashes/" -print_final_stats=1 >> "$log" 2>&1) || true
        local after; after=$(ls "$crashes" | wc -l)
        found=$((found + after - before))
        execs=$((execs + $(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || echo 0)))
        cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo 0)
        [ "$after" -gt "$before" ] || break
        left=$((left - ($(date +%s) - start)))
    done
    printf '%-8s execs: %-10s coverage: %-6s crashes: %s%s\n' "$name" "$execs" "$cov" "$found" \
        "$([ "$found" -gt 0 ] && echo "  (inputs in $crashes, log $log)")"
}

for t in "${targets[@]}"; do build "$t"; done
for t in "${targets[@]}"; do run "$t"; done
