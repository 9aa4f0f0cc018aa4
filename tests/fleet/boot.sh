#!/bin/sh
# Runs as PID 1 of fresh pid, mount, uts, ipc, net and cgroup namespaces (see host.py), then
# becomes systemd (or, with INIT=sshd, sshd alone: a bare host, see bare.py).
# Usage: boot.sh LOWER UPPER WORK MERGED HOSTNAME DATA_MIB CGROUP_MODE [INIT]
set -eu
LOWER=$1 UPPER=$2 WORK=$3 M=$4 NAME=$5 DATA_MIB=$6 CGROUP_MODE=$7 INIT=${8:-systemd}

mount --make-rprivate /
mount -t overlay overlay -o "lowerdir=$LOWER,upperdir=$UPPER,workdir=$WORK" "$M"

mount -t proc -o nosuid,nodev,noexec proc "$M/proc"
# Kernel-wide knobs stay read-only: a host must not change the real machine.
for p in sys sysrq-trigger; do
  [ -e "$M/proc/$p" ] || continue
  mount --bind "$M/proc/$p" "$M/proc/$p"
  mount -o remount,bind,ro "$M/proc/$p"
done
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$M/sys"
# Our cgroup namespace is rooted in this host's own cgroups: systemd mounts the rest itself.
if [ "$CGROUP_MODE" = unified ]; then
  mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 "$M/sys/fs/cgroup"
else
  mount -t tmpfs -o mode=755,nosuid,nodev,noexec tmpfs "$M/sys/fs/cgroup"
  mkdir "$M/sys/fs/cgroup/systemd"
  mount -t cgroup -o none,name=systemd,nosuid,nodev,noexec cgroup "$M/sys/fs/cgroup/systemd"
fi

# A private /dev with only harmless nodes: no real tty, disk or console.
mount -t tmpfs -o mode=755,nosuid tmpfs "$M/dev"
for n in null:1:3 zero:1:5 full:1:7 random:1:8 urandom:1:9 tty:5:0; do
  IFS=: read -r f maj min <<EON
$n
EON
  mknod -m 666 "$M/dev/$f" c "$maj" "$min"
done
mkdir -m 755 "$M/dev/pts" && mkdir -m 1777 "$M/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=620,gid=5,nosuid,noexec devpts "$M/dev/pts"
ln -s pts/ptmx "$M/dev/ptmx"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$M/dev/shm"
ln -s /proc/self/fd "$M/dev/fd"
ln -s /proc/self/fd/0 "$M/dev/stdin"
ln -s /proc/self/fd/1 "$M/dev/stdout"
ln -s /proc/self/fd/2 "$M/dev/stderr"
touch "$M/dev/console" && mount --bind "$M/dev/null" "$M/dev/console"

mount -t tmpfs -o mode=755,nosuid,nodev tmpfs "$M/run"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$M/tmp"
# A small dedicated filesystem, so that filling one is cheap.
mkdir -p "$M/srv/data"
mount -t tmpfs -o "size=${DATA_MIB}m,mode=755" tmpfs "$M/srv/data"

hostname "$NAME"

# The harness plugs eth0 into our network namespace; wait for it, bounded.
i=0
while ! ip -o -4 addr show dev eth0 2>/dev/null | grep -q inet; do
  i=$((i + 1))
  if [ "$i" -gt 300 ]; then echo "boot: no eth0 after 30 s" >&2; exit 1; fi
  sleep 0.1
done

# pivot_root, not chroot: a chrooted process may not create user namespaces (PrivateUsers=).
mkdir -p "$M/.fleet-oldroot"
cd "$M"
pivot_root . .fleet-oldroot
if [ "$INIT" = sshd ]; then
  # sshd as PID 1: it reaps every child (waitpid -1), so orphans do not pile up.
  exec /usr/bin/env -i container=other PATH=/usr/sbin:/usr/bin:/sbin:/bin /bin/sh -c \
    'umount -l /.fleet-oldroot && rmdir /.fleet-oldroot && mkdir -p -m 755 /run/sshd &&
     exec /usr/sbin/sshd -D -e'
fi
exec /usr/bin/env -i container=other PATH=/usr/sbin:/usr/bin:/sbin:/bin /bin/sh -c \
  'umount -l /.fleet-oldroot && rmdir /.fleet-oldroot && exec /lib/systemd/systemd'
