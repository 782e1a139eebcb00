#!/usr/bin/env bash
# Porter's benchmarks, each compared in one run against its peers (see bench/README.md).
#
#   bench/run.sh peers     hello (no keepalive / keepalive) and the 100 ms async handler vs C libfcgi,
#                          PHP-FPM, Go net/http/fcgi, Mono ASP.NET, through one nginx (peers/run.sh)
#   bench/run.sh burst     1000 concurrent requests awaiting 1 s, and idle RSS
#   bench/run.sh all       both
#
# Environment: ROUNDS, DURATION, … are passed to peers/run.sh (e.g. ROUNDS=1 DURATION=4s for a smoke run).
# PORTER_THREADS=N runs Porter with `threads = N` instead of bench/porter-bench.toml's 8 (the default), e.g. one per core.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$(pwd)
mkdir -p bench/results
if [[ -z ${PORTER_BIN:-} ]]; then
    swift build -c release --product porter --scratch-path .build-release
    PORTER_BIN=.build-release/release/porter
fi
install -m 0755 "$PORTER_BIN" /tmp/porter-bench
CONFIG="$REPO/bench/porter-bench.toml"
if [[ -n ${PORTER_THREADS:-} ]]; then
    CONFIG=/tmp/porter-bench-threads.toml
    sed "s/^threads = .*/threads = $PORTER_THREADS/" "$REPO/bench/porter-bench.toml" >"$CONFIG"
fi
what=${1:-all}
if [[ $what == peers || $what == all ]]; then
    (cd bench/peers && RESULTS_MD="$REPO/bench/results/peers.md" EXTRA_NAME=porter \
        EXTRA_CMD="/tmp/porter-bench serve --config $CONFIG --socket {sock} --socket-mode 0666" ./run.sh)
    echo "peers: bench/results/peers.md"
fi
if [[ $what == burst || $what == all ]]; then
    python3 bench/burst.py --porter /tmp/porter-bench --config "$CONFIG" | tee bench/results/burst.txt
fi
