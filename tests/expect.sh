# Helpers for the shell tests that check exit status and message of many cases (sourced):
#   t=DIR; . expect.sh; expect CODE PATTERN CMD...; same FILE SHA256 WHAT; ok; bad WHY
# expect runs CMD under a 20 s timeout (a hang fails; EXPECT_TIMEOUT overrides) and fails on a
# Python traceback in its output: errors must be one line. Counts in $pass and $fail.
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
expect() {
  local code=$1 pat=$2; shift 2
  timeout "${EXPECT_TIMEOUT:-20}" "$@" >"$t/_out" 2>"$t/_err"; local rc=$?
  if [ $rc -ne "$code" ]; then bad "$* -> exit $rc, want $code: $(head -c 600 "$t/_err")"; return; fi
  if grep -q Traceback "$t/_err" "$t/_out"; then bad "$* -> a traceback: $(head -c 600 "$t/_err")"; return; fi
  if [ -n "$pat" ] && ! grep -qE -- "$pat" "$t/_err" "$t/_out"; then bad "$* -> output lacks /$pat/: $(head -c 600 "$t/_err")"; return; fi
  ok
}
sum() { sha256sum <"$1"; }
same() { [ "$(sum "$1")" = "$2" ] && ok || bad "$1 changed ($3)"; }
