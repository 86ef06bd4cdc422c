#!/usr/bin/env bash
# `make fuzz`: runs a crate's cargo-fuzz targets for a bounded time each.
#
#   deploy/local/fuzz.sh CRATE [SECONDS]    CRATE is aggregator or api (its fuzz/ folder)
#
# cargo-fuzz needs a nightly toolchain (libFuzzer instrumentation flags); both are installed
# here when missing, so the one command works on a fresh machine with rustup. New inputs that
# grow coverage are kept in .data/fuzz/corpus/<target> (ignored by git) and reused by the next
# run; the seeds in CRATE/fuzz/seeds/<target> are read, never written. A crash leaves its input
# in CRATE/fuzz/artifacts/<target>/ and fails the run: reproduce it with
#   cd CRATE && cargo +nightly fuzz run <target> fuzz/artifacts/<target>/<file>
set -euo pipefail

crate="${1:?usage: fuzz.sh CRATE [SECONDS]}"
seconds="${2:-60}"
repository="$(cd "$(dirname "$0")/../.." && pwd)"
[[ -d "$repository/$crate/fuzz" ]] || {
    echo "fuzz: $crate has no fuzz/ folder" >&2
    exit 2
}
cd "$repository/$crate"

if ! rustup toolchain list | grep -q '^nightly'; then
    echo "fuzz: installing the nightly toolchain (cargo-fuzz needs it)"
    rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

for target in $(cargo +nightly fuzz list); do
    corpus="$repository/.data/fuzz/corpus/$target"
    mkdir -p "$corpus"
    echo "fuzz: $crate $target for ${seconds}s"
    cargo +nightly fuzz run "$target" "$corpus" "fuzz/seeds/$target" -- \
        -max_total_time="$seconds" -max_len=65535
done
