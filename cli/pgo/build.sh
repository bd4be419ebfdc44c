#!/usr/bin/env bash
# A profile-guided (PGO) build of simctl: the same source and the same results bit for bit (PGO
# changes where the compiler puts code and what it inlines, never what the code computes), 6-10%
# less wall time on the perf scenarios (docs/performance.md, round twenty-three).
#
#   cli/pgo/build.sh            # builds target/pgo/simctl (two release builds and a training sweep)
#   target/pgo/simctl run scenarios/dynamo_partition.ron
#
# Steps:
#   0. which llvm-profdata to use, by trying each on a one-line program's counts (seconds);
#   1. an instrumented release build (target/pgo/gen), which counts every branch it takes;
#   2. training: that binary sweeps the scenario library (every file of scenarios/ at one seed;
#      not the perf scenarios it is measured on), runs the PHOLD benchmark and writes one run's
#      report, counting as it goes;
#   3. llvm-profdata merges the counts into target/pgo/simctl.profdata;
#   4. a release build that reads them (target/pgo/use), checked to share its symbols with the
#      instrumented build (else the counts matched nothing), copied to target/pgo/simctl.
#
# Needs an llvm-profdata that reads the counts this rustc writes: $LLVM_PROFDATA if set, else
# rustup's llvm-tools (`rustup component add llvm-tools`), else Debian's llvm-19 (`apt-get install
# llvm-19`; its llvm-profdata reads the raw counts of rustc 1.95, whose LLVM is 22), else
# llvm-profdata on PATH; the first of them that reads the counts of a test program (step 0).
# Exits 2 within seconds, having built nothing, when none does (Debian 12's default
# llvm-profdata, LLVM 14, cannot); 1 on any other failure. Takes about 10 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/../.."

work="$PWD/target/pgo"

# Which llvm-profdata reads this rustc's counts is found out by trying, in seconds, before the
# long builds: a one-line program built with `-Cprofile-generate` writes counts, and the first
# candidate whose `merge` reads them is the one used (Debian 12 puts LLVM 14's llvm-profdata on
# PATH, which cannot; Debian's llvm-19 beside it can).
probe="$work/probe"
rm -rf "$probe"
mkdir -p "$probe"
echo 'fn main() { if std::env::args().count() > 9 { println!("many") } }' >"$probe/probe.rs"
if ! rustc -Cprofile-generate="$probe" -o "$probe/probe" "$probe/probe.rs" 2>"$probe/rustc.log" \
    || ! LLVM_PROFILE_FILE="$probe/probe.profraw" "$probe/probe"; then
    cat "$probe/rustc.log" >&2
    echo "error: this rustc cannot build or run a program that writes profile counts" >&2
    exit 1
fi
reads_counts() {
    "$1" merge -o "$probe/probe.profdata" "$probe/probe.profraw" >/dev/null 2>&1
}
if [ -n "${LLVM_PROFDATA:-}" ]; then
    candidates=("$LLVM_PROFDATA")
else
    sysroot="$(rustc --print sysroot)"
    host="$(rustc -vV | sed -n 's/^host: //p')"
    candidates=("$sysroot/lib/rustlib/$host/bin/llvm-profdata" /usr/lib/llvm-19/bin/llvm-profdata)
    if command -v llvm-profdata >/dev/null; then
        candidates+=("$(command -v llvm-profdata)")
    fi
fi
profdata=""
tried=()
for candidate in "${candidates[@]}"; do
    if [ -x "$candidate" ] || command -v "$candidate" >/dev/null; then
        if reads_counts "$candidate"; then
            profdata="$candidate"
            break
        fi
        tried+=("$candidate (cannot read the counts)")
    elif [ -n "${LLVM_PROFDATA:-}" ]; then
        tried+=("$candidate (not a program)")
    fi
done
if [ -z "$profdata" ]; then
    echo "error: no llvm-profdata found that reads this rustc's counts ($(rustc -vV | sed -n 's/^LLVM version: /LLVM /p'))." >&2
    for t in "${tried[@]}"; do echo "  tried: $t" >&2; done
    echo "Install one (apt-get install llvm-19, or rustup component add llvm-tools), or name it with" >&2
    echo "LLVM_PROFDATA=/path/to/llvm-profdata." >&2
    exit 2
fi
echo "llvm-profdata: $profdata ($("$profdata" merge --version 2>/dev/null | grep -m1 -i version || echo 'version unknown'))"

rm -rf "$work/raw" "$work/train" "$work/simctl.profdata"
mkdir -p "$work/raw"
export CARGO_INCREMENTAL=0

echo "== 1/4 instrumented build"
RUSTFLAGS="-Cprofile-generate=$work/raw" CARGO_TARGET_DIR="$work/gen" cargo build --release -p simctl

echo "== 2/4 training"
gen="$work/gen/release/simctl"
jobs="$(nproc 2>/dev/null || echo 2)"
# Known-bad scenarios fail by design, so the sweep's exit code is not this step's verdict; a
# sweep that could not run at all leaves no counts, and step 3 says so.
LLVM_PROFILE_FILE="$work/raw/train-%p-%m.profraw" "$gen" sweep scenarios --seeds 0..1 --jobs "$jobs" \
    --out "$work/train" --no-progress >/dev/null || true
LLVM_PROFILE_FILE="$work/raw/train-%p-%m.profraw" "$gen" bench phold --size medium --repeat 1 >/dev/null
# One run with its whole report (JSON, Markdown, SVG plots, HTML), which a sweep does not write.
LLVM_PROFILE_FILE="$work/raw/train-%p-%m.profraw" "$gen" run scenarios/dynamo_partition.ron \
    --out "$work/train/report" >/dev/null

echo "== 3/4 merging the counts"
shopt -s nullglob
counts=("$work"/raw/train-*.profraw)
if [ "${#counts[@]}" -eq 0 ]; then
    echo "error: the training runs wrote no counts in $work/raw" >&2
    exit 1
fi
"$profdata" merge -o "$work/simctl.profdata" "${counts[@]}"

echo "== 4/4 optimised build"
RUSTFLAGS="-Cprofile-use=$work/simctl.profdata" SIMCTL_PGO=1 CARGO_TARGET_DIR="$work/use" \
    cargo build --release -p simctl

# The counts name each function by its mangled symbol, and the symbols' hashes come from cargo's
# metadata, which covers the profile's settings: an instrumented build made with another setting
# than this one (`debug = 0`, say) gives counts that match no function here, and a binary that is
# the plain build under another name, silently (round twenty-five measured one: kafka_50k 1.74 /
# 1.85 s against 1.50 / 1.55 s). So the two builds must share their kernel's symbols.
if command -v nm >/dev/null; then
    kernel_symbols() { nm "$1" 2>/dev/null | awk '$3 ~ /^_ZN8sim_core/ {print $3}' | sort -u; }
    shared=$(comm -12 <(kernel_symbols "$gen") <(kernel_symbols "$work/use/release/simctl") | wc -l)
    if [ "$shared" -eq 0 ]; then
        echo "error: the optimised build shares no symbol with the instrumented one, so the counts" >&2
        echo "matched no function (were the two built with different profile settings?)" >&2
        exit 1
    fi
    echo "the instrumented and optimised builds share $shared of the kernel's symbols"
else
    echo "note: no nm; not checked that the counts match the optimised build's functions"
fi
cp "$work/use/release/simctl" "$work/simctl.tmp"
mv "$work/simctl.tmp" "$work/simctl"
echo "built $work/simctl ($("$work/simctl" --version))"
