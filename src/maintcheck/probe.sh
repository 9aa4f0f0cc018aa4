# maintcheck's host probe: every host-level fact in one round trip, read-only.
# The controller prepends shell-quoted variables (UNITS, PATHS, GLOBS, ...) and sends this on
# stdin to `sh -s`. It only reads: no redirection into files, no service control, no package
# database writes. Each fact is printed under a "@@maintcheck NAME" header.
set -u
IFS='
'
export LC_ALL=C
section() { printf '\n@@maintcheck %s\n' "$1"; }
have() { command -v "$1" >/dev/null 2>&1; }

# Every process started here costs the host about a millisecond: small files are read with
# the shell's own `read`, and a command serves many files at once where it can.
section hostname; uname -n
pid1=; { read -r pid1 < /proc/1/comm; } 2>/dev/null
section pid1; printf '%s\n' "$pid1"
section loadavg; read -r line < /proc/loadavg; printf '%s\n' "$line"
section nproc; getconf _NPROCESSORS_ONLN 2>/dev/null || nproc
section meminfo; cat /proc/meminfo
section df; df -P -T 2>/dev/null
section dfi; df -P -i 2>/dev/null
# ss asks the kernel for listening sockets only; /proc/net/tcp walks the whole connection
# table of the machine (10 ms on a host with a large one). Without a working ss: the latter.
listen=; have ss && listen=$(ss -ltn 2>/dev/null)
case $listen in
  *LISTEN*) section listen; printf '%s\n' "$listen" ;;
  *) section tcp; cat /proc/net/tcp /proc/net/tcp6 2>/dev/null ;;
esac
section now; date +%s

if have systemctl && [ "$pid1" = systemd ]; then
  section failed_units; systemctl list-units --state=failed --all --plain --no-legend --no-pager 2>&1
  section timers; systemctl list-timers --all --plain --no-legend --no-pager 2>&1
  if [ -n "$UNITS" ]; then
    section units
    # shellcheck disable=SC2086
    systemctl show --no-pager -p Id -p LoadState -p ActiveState -p SubState -p Result \
      -p NextElapseUSecRealtime -p LastTriggerUSec -p ExecMainStatus -p ExecMainExitTimestamp \
      $UNITS 2>&1
  fi
fi
section processes; ps -eo comm= 2>/dev/null

if have dpkg-query; then
  section packages; dpkg-query -W -f '${Package}\t${Version}\t${db:Status-Abbrev}\n' 2>/dev/null
fi
section apt_lists
stat -c '%Y' /var/lib/apt/lists/*Release 2>/dev/null | sort -n | tail -n 1
if [ "$SECURITY_UPDATES" = yes ]; then
  if have apt-get; then
    section apt_simulate; apt-get -s -o Debug::NoLocking=1 dist-upgrade 2>&1
  elif have dnf; then
    section dnf_security; dnf -q --cacheonly updateinfo list --security 2>&1
  fi
fi

# The lists below are data, not patterns: no pathname expansion, except where a backup glob is
# meant to expand (a glob expanded here would name the section after a file, not the glob).
set -f
for p in $PATHS; do
  section "path $p"
  if [ -e "$p" ] || [ -L "$p" ]; then
    stat -c '%F|%a|%s|%Y|%U|%G' "$p"
    if [ -f "$p" ] && [ -r "$p" ]; then sum=$(sha256sum "$p") && printf '%s\n' "${sum%% *}"; fi
    if [ -d "$p" ]; then find "$p" -mindepth 1 -maxdepth 1 2>/dev/null | head -n 20; fi
  fi
done
for p in $CONTENTS; do
  section "content $p"
  [ -f "$p" ] && head -c 262144 "$p"
done
for p in $SYNTAX; do
  section "syntax $p"
  if [ -f "$p" ]; then sh -n "$p" 2>&1; echo "exit=$?"; fi
done
for g in $GLOBS; do
  section "glob $g"
  set +f  # the glob is meant to expand here
  # shellcheck disable=SC2086
  for f in $g; do [ -f "$f" ] && stat -c '%Y|%s|%n' "$f"; done
  newest=$(for f in $g; do [ -f "$f" ] && stat -c '%Y|%n' "$f"; done | sort -n | tail -n 1 | cut -d'|' -f2-)
  set -f
  if [ -n "$newest" ]; then
    echo "newest_sha256=$(sha256sum "$newest" | cut -c1-64)"
    [ -f "$newest.sha256" ] && echo "sidecar=$(cut -c1-64 "$newest.sha256")"
  fi
done
for u in $USERS; do
  section "user $u"
  getent passwd "$u" && echo "groups=$(id -nG "$u" 2>/dev/null)"
done
for n in $NAMES; do
  section "dns $n"
  getent ahosts "$n" | awk '{print $1}' | sort -u
done
for d in $CONNECT; do
  section "connect $d"
  h=${d%:*}; port=${d##*:}
  if timeout 5 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$h" "$port" 2>/dev/null; then echo open; else echo closed; fi
done
if [ "$FIREWALL" = yes ]; then
  section firewall
  if have nft; then nft list ruleset 2>&1; elif have iptables-save; then iptables-save 2>&1; fi
fi
if [ "$LOGS" = yes ]; then
  section journal_last
  have journalctl && journalctl -n 1 -o short-unix --no-pager -q 2>/dev/null | cut -d' ' -f1
  section syslog_mtime
  for f in /var/log/syslog /var/log/messages; do [ -f "$f" ] && stat -c '%Y' "$f"; done
fi
section end
