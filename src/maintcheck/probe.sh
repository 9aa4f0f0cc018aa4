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
section hostname
{ read -r name < /proc/sys/kernel/hostname && printf '%s\n' "$name"; } 2>/dev/null || uname -n
pid1=; { read -r pid1 < /proc/1/comm; } 2>/dev/null
section pid1; printf '%s\n' "$pid1"
section loadavg; read -r line < /proc/loadavg; printf '%s\n' "$line"
# the online CPUs as the kernel lists them ("0-3,6"); the controller counts them
section nproc
{ read -r cpus < /sys/devices/system/cpu/online && printf 'online %s\n' "$cpus"; } 2>/dev/null \
  || getconf _NPROCESSORS_ONLN 2>/dev/null || nproc
section meminfo; while read -r line; do printf '%s\n' "$line"; done < /proc/meminfo
section df; df -P -T 2>/dev/null
section dfi; df -P -i 2>/dev/null
# ss asks the kernel for listening sockets only; /proc/net/tcp walks the whole connection
# table of the machine (10 ms on a host with a large one). Without a working ss (no socket
# listed, not even our own sshd's): the latter. An explicit state filter halves ss's time.
listen=; have ss && listen=$(ss -tn state listening 2>/dev/null)
case $listen in
  *"$IFS"[0-9]*) section listen; printf '%s\n' "$listen" ;;
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
      -p NextElapseUSecRealtime -p NextElapseUSecMonotonic -p LastTriggerUSec \
      -p ExecMainStatus -p ExecMainExitTimestamp \
      $UNITS 2>&1
  fi
fi
section processes  # every process's name, as `ps -eo comm=` gives it, from one cat
if [ -r /proc/1/comm ]; then cat /proc/[0-9]*/comm 2>/dev/null; else ps -eo comm= 2>/dev/null; fi

if have dpkg-query; then
  section packages; dpkg-query -W -f '${Package}\t${Version}\t${db:Status-Abbrev}\n' 2>/dev/null
fi
section apt_lists  # one mtime per Release file; the controller takes the newest
stat -c '%Y' /var/lib/apt/lists/*Release 2>/dev/null
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
# One stat and one sha256sum for every path, their lines handed to each path's section.
found= files= stats= sums=
for p in $PATHS; do
  if [ -e "$p" ] || [ -L "$p" ]; then found="$found$p$IFS"; fi
  if [ -f "$p" ] && [ -r "$p" ]; then files="$files$p$IFS"; fi
done
# shellcheck disable=SC2086
[ -n "$found" ] && stats=$(stat -c '%n|%F|%a|%s|%Y|%U|%G' -- $found 2>/dev/null)
# shellcheck disable=SC2086
[ -n "$files" ] && sums=$(sha256sum -- $files 2>/dev/null)
for p in $PATHS; do
  section "path $p"
  for line in $stats; do
    case $line in "$p|"*) printf '%s\n' "${line#"$p|"}"; break ;; esac
  done
  for line in $sums; do
    case $line in *"  $p") printf '%s\n' "${line%% *}"; break ;; esac
  done
  if [ -d "$p" ] && [ ! -L "$p" ]; then  # its first 20 entries, dot files too, no process
    set +f; n=0
    for e in "$p"/* "$p"/.[!.]* "$p"/..?*; do
      if [ -e "$e" ] || [ -L "$e" ]; then printf '%s\n' "$e"; n=$((n + 1)); fi
      [ "$n" -lt 20 ] || break
    done
    set -f
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
  set +f  # the glob is meant to expand here: one stat for all its files
  # shellcheck disable=SC2086
  stats=$(stat -L -c '%Y|%s|%F|%n' -- $g 2>/dev/null)
  set -f
  newest= best=
  for line in $stats; do
    mtime=${line%%|*} rest=${line#*|}; size=${rest%%|*} rest=${rest#*|}
    case $rest in "regular file|"*|"regular empty file|"*) ;; *) continue ;; esac
    name=${rest#*|}
    printf '%s|%s|%s\n' "$mtime" "$size" "$name"
    # the newest; on a tie the last in the glob's (sorted) order
    if [ -z "$best" ] || [ "$mtime" -ge "$best" ]; then best=$mtime newest=$name; fi
  done
  if [ -n "$newest" ]; then
    sum=$(sha256sum -- "$newest") && sum=${sum#\\} && echo "newest_sha256=${sum%% *}"
    if [ -f "$newest.sha256" ]; then
      side=; { read -r side < "$newest.sha256"; } 2>/dev/null; echo "sidecar=${side%% *}"
    fi
  fi
done
for u in $USERS; do
  section "user $u"
  getent passwd "$u" && echo "groups=$(id -nG "$u" 2>/dev/null)"
done
# sudo's own parser on the declared drop-in, and what sudo grants the account: the rules
# working, not the file being there (a drop-in with a syntax error is skipped by sudo)
for f in $SUDOERS; do
  section "sudoers $f"
  if have visudo; then visudo -c -f "$f" 2>&1; echo "exit=$?"; fi
done
for u in $SUDO_USERS; do
  section "sudo_list $u"
  if have sudo; then sudo -n -l -U "$u" 2>&1; echo "exit=$?"; fi
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
