#!/usr/bin/env bash
# A whole Kaksik round trip on this machine: a server, an operator, a
# phone and a bank, each a `kaksik` command. Nothing waits for a person:
# the PINs are piped in and the script plays the operator. Run it from the
# checkout's root, as `bash scripts/try-by-hand.sh` or pasted into a
# shell: the parentheses give it a subshell of its own, so a failure
# cannot close your terminal and nothing it started outlives it.
(
set -euo pipefail
if [ -n "${BASH_SOURCE[0]:-}" ]; then cd "$(dirname "${BASH_SOURCE[0]}")/.."; fi

cargo build --release -p kaksik-cli
PATH="$PWD/target/release:$PATH"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/kaksik-try.XXXXXX")
# On any exit: stop the background commands still running (the server,
# and any other after a failure) and remove every file made here.
cleanup() {
    local running
    running=$(jobs -p)
    if [ -n "$running" ]; then kill $running 2>/dev/null || true; fi
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# Prints the rest of the first line of FILE that starts with PREFIX,
# waiting up to two minutes for it to appear.
await_line() {
    for _ in $(seq 1 1200); do
        if line=$(grep -m1 "^$2" "$1" 2>/dev/null); then
            echo "${line#"$2"}"
            return 0
        fi
        sleep 0.1
    done
    echo "no line '$2' in $1" >&2
    return 1
}

# 1. The server: SQLite, its CA and its TLS key in a fresh data directory.
kaksik serve --data-dir "$WORK/server" --listen 127.0.0.1:0 > "$WORK/serve.out" &
URL=$(await_line "$WORK/serve.out" "kaksik server listening on ")
PIN=$(await_line "$WORK/serve.out" "spki-pin ")
echo "server $URL, TLS key $PIN"

# 2. The operator has checked Mari's ID card and enrols her.
ENROLMENT=$(kaksik admin --data-dir "$WORK/server" enrol --country EE \
    --id 38001085718 --given-name MARI --surname MAASIKAS | sed -n 1p)

# 3. Mari's phone registers: PIN1 2580 and PIN2 14703, each typed twice
#    (one per line here; on a terminal they are asked for without echo).
printf '2580\n2580\n14703\n14703\n' | kaksik device --home "$WORK/phone" register \
    --server "$URL" --spki-pin "$PIN" --enrolment "$ENROLMENT" > "$WORK/register.out" &
REGISTER=$!
CODE=$(await_line "$WORK/register.out" "registration code: ")

# 4. Mari reads the registration code out; the operator confirms it.
kaksik admin --data-dir "$WORK/server" confirm --enrolment "$ENROLMENT" --registration-code "$CODE"
wait "$REGISTER"
cat "$WORK/register.out"
DOCUMENT=$(await_line "$WORK/register.out" "document number: ")

# 5. A bank (the demo RP) logs Mari in; her phone shows the request and
#    she approves it with PIN1. The bank checks signature, chain and name.
kaksik rp --server "$URL" --spki-pin "$PIN" auth --id PNOEE-38001085718 \
    --text "Log in to DEMO bank" > "$WORK/auth.out" &
BANK=$!
TX=$(kaksik device --home "$WORK/phone" inbox --wait 60 | cut -f1 | sed -n 1p)
echo 2580 | kaksik device --home "$WORK/phone" approve "$TX"
wait "$BANK"
cat "$WORK/auth.out"

# 6. The bank asks Mari to sign a contract; she approves with PIN2.
echo "Contract no. 42: Mari buys one (1) bicycle." > "$WORK/contract.txt"
kaksik rp --server "$URL" --spki-pin "$PIN" sign --document "$DOCUMENT" \
    --file "$WORK/contract.txt" --out "$WORK/contract.txt.sig" > "$WORK/sign.out" &
BANK=$!
TX=$(kaksik device --home "$WORK/phone" inbox --wait 60 | cut -f1 | sed -n 1p)
echo 14703 | kaksik device --home "$WORK/phone" approve "$TX"
wait "$BANK"
cat "$WORK/sign.out"

# 7. Anyone can check the signature with openssl.
openssl x509 -pubkey -noout -in "$WORK/contract.txt.sig.cert.pem" > "$WORK/mari.pub.pem"
openssl dgst -sha256 -verify "$WORK/mari.pub.pem" -signature "$WORK/contract.txt.sig" \
    "$WORK/contract.txt"
kaksik device --home "$WORK/phone" status
)
