#!/usr/bin/env bash
# Builds the evcharge *test image*: a Debian bookworm system (mmdebstrap) that stands in for the
# Yocto image in CI. It installs exactly the units, D-Bus policies, configs, sysusers file and
# board profiles of the repository (services/systemd, services/dbus, services/config,
# services/sysusers.d, board-support/boards), the evcharge package for the system Python, RAUC
# with a test CA, and GRUB EFI with the same A/B logic as the Yocto image, on a GPT disk:
#
#   1 boot      EFI system partition: GRUB (BOOTX64.EFI), grub.cfg, grubenv   (mounted on /boot)
#   2 rootfs_a  slot A (this image)
#   3 rootfs_b  slot B (empty until the first RAUC update)
#   4 data      RAUC status, /var/lib/evcharge (survives updates)              (mounted on /data)
#
# Plus signed test bundles (v2 good, v3 whose health check fails, and the bad ones: unsigned,
# signed by an untrusted CA, tampered payload, wrong compatible).
#
# Idempotent and cached: the output goes to $EVCHARGE_IMAGE_DIR/<hash of the inputs>/ (default
# /var/tmp/evcharge-image) and a second run with the same inputs only prints that directory.
#   ci/build-test-image.sh            build (or reuse) and print the output directory
# Test image only: root logs in on the serial console without a password.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
BASE="${EVCHARGE_IMAGE_DIR:-/var/tmp/evcharge-image}"
SUITE=bookworm
MIRROR="${EVCHARGE_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
log() { echo "build-test-image: $*" >&2; }

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
need=()
for pair in mmdebstrap:mmdebstrap qemu-system-x86_64:qemu-system-x86 sfdisk:fdisk mkfs.vfat:dosfstools \
            mcopy:mtools mkfs.ext4:e2fsprogs rauc:rauc mksquashfs:squashfs-tools grub-mkimage:grub-common \
            openssl:openssl; do
  command -v "${pair%%:*}" >/dev/null || need+=("${pair#*:}")
done
[ -d /usr/lib/grub/x86_64-efi ] || need+=(grub-efi-amd64-bin)
[ -f /usr/share/OVMF/OVMF_CODE.fd ] || need+=(ovmf)
if [ ${#need[@]} -gt 0 ]; then
  log "apt-get install ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

# ---- cache key: every input file's content ----------------------------------------------------
inputs() {
  find ci/build-test-image.sh tests/system/image meta-evcharge/recipes-evcharge services/evcharge services/systemd services/dbus \
       services/config services/sysusers.d services/pyproject.toml services/setup.py board-support/boards \
       -type f \( -name '*.py' -o -name '*.c' -o -name '*.h' -o -name '*.yaml' -o -name '*.xml' \
       -o -name '*.conf' -o -name '*.service' -o -name '*.target' -o -name '*.path' -o -name '*.sh' -o -name '*.toml' \
       -o -name '*.cfg' -o -name '*.mount' -o -name '*.network' -o -name '*.bb' \) -not -path '*/__pycache__/*' | LC_ALL=C sort
}
HASH="$(inputs | xargs sha256sum | sha256sum | cut -c1-16)"
OUT="$BASE/$HASH"
if [ -f "$OUT/done" ]; then
  log "cached: $OUT"
  echo "$OUT"
  exit 0
fi
log "building $OUT"
mkdir -p "$BASE"
# A build killed inside mmdebstrap may leave its chroot mounts behind: never rm -rf through them.
if grep -q " $OUT.tmp/" /proc/mounts; then
  grep " $OUT.tmp/" /proc/mounts | cut -d' ' -f2 | sort -r | xargs -r umount -l
fi
rm -rf "$OUT.tmp"
mkdir -p "$OUT.tmp"
W="$OUT.tmp"
ROOT="$W/rootfs"
IMG="$REPO/tests/system/image"

# ---- Python: the evcharge wheel and every dependency it declares, as wheels for CPython 3.11 -----
# (the image's python3). pip resolves services/pyproject.toml's dependencies, so a service that
# adds one gets it here too; the wheels go to /usr/local/lib/python3.11/dist-packages, which is
# ahead of Debian's /usr/lib/python3/dist-packages on sys.path.
PY="${EVCHARGE_BUILD_PYTHON:-python3}"
rm -rf "$W/evwheel" "$W/deps"
"$PY" -m pip wheel -q --no-deps -w "$W/evwheel" "$REPO/services" >/dev/null
"$PY" -m pip download -q --only-binary=:all: --python-version 3.11 --implementation cp --abi cp311 \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  --platform linux_x86_64 -d "$W/deps" "$(ls "$W"/evwheel/evcharge-*.whl)" >&2

# ---- root file system ------------------------------------------------------------------------
PKGS=systemd,systemd-sysv,udev,dbus,python3
PKGS+=,linux-image-amd64,initramfs-tools,kmod,rauc,rauc-service,grub-common,e2fsprogs,procps,iproute2,squashfs-tools
log "mmdebstrap ($SUITE minbase)"
mmdebstrap --quiet --variant=minbase --mode=root --include="$PKGS" \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --essential-hook='mkdir -p "$1/etc/initramfs-tools/conf.d"; printf "MODULES=list\nCOMPRESS=zstd\n" > "$1/etc/initramfs-tools/conf.d/evcharge.conf"; printf "virtio_pci\nvirtio_blk\next4\n" > "$1/etc/initramfs-tools/modules"' \
  "$SUITE" "$ROOT" "$MIRROR" >&2

# Kernel modules: keep what a QEMU guest with RAUC needs (virtio, ext4, vfat, squashfs, loop,
# dm-verity); the rest only costs space and slot-copy time.
KVER="$(ls "$ROOT/lib/modules")"
K="$ROOT/lib/modules/$KVER/kernel"
for d in sound drivers/gpu drivers/media drivers/net/wireless drivers/net/ethernet drivers/infiniband \
         drivers/staging drivers/usb drivers/bluetooth drivers/isdn drivers/hid drivers/iio drivers/input \
         drivers/mtd drivers/scsi drivers/hwmon drivers/platform drivers/mmc drivers/target drivers/nvme \
         drivers/video drivers/misc drivers/leds drivers/atm drivers/ata drivers/thunderbolt drivers/net/can \
         drivers/net/usb drivers/net/phy drivers/net/ieee802154 drivers/net/wwan drivers/net/hamradio \
         drivers/firewire drivers/pcmcia drivers/spi drivers/i2c drivers/w1 drivers/crypto drivers/edac \
         drivers/power drivers/regulator drivers/pinctrl drivers/gpio drivers/mfd drivers/rtc drivers/watchdog \
         net/wireless net/mac80211 net/bluetooth net/netfilter net/ipv4/netfilter net/ipv6/netfilter \
         net/sched net/openvswitch net/sunrpc net/ceph net/can net/batman-adv net/rxrpc net/mpls net/tipc \
         fs/btrfs fs/xfs fs/ocfs2 fs/gfs2 fs/nfs fs/nfsd fs/ceph fs/smb fs/cifs fs/f2fs fs/ubifs fs/jfs \
         fs/reiserfs fs/nilfs2 fs/bcachefs fs/ntfs3 fs/ntfs fs/udf fs/dlm fs/afs fs/coda fs/9p fs/erofs \
         fs/hfs fs/hfsplus fs/ufs fs/orangefs fs/cachefiles fs/fscache fs/netfs arch/x86/kvm; do
  rm -rf "${K:?}/$d"
done
chroot "$ROOT" depmod -a "$KVER"
rm -rf "$ROOT"/usr/share/{man,info,locale,doc}/* "$ROOT"/var/cache/apt/*.bin "$ROOT"/var/lib/apt/lists/* \
       "$ROOT"/usr/lib/firmware "$ROOT"/boot/System.map-* "$ROOT"/boot/config-*

# ---- evcharge: the package and exactly the repository's units, policies, configs, profiles --------
SITE="$ROOT/usr/local/lib/python3.11/dist-packages"
mkdir -p "$SITE"
"$PY" -m pip install -q --no-deps --no-compile --target "$SITE" "$W"/deps/*.whl
rm -rf "$SITE/bin"
cat > "$ROOT/usr/local/bin/evchargectl" <<'EOF'
#!/usr/bin/python3
import sys
from evcharge.cli.main import main
sys.exit(main())
EOF
chmod 0755 "$ROOT/usr/local/bin/evchargectl"
chroot "$ROOT" python3 -m compileall -q -j 2 /usr/local/lib/python3.11/dist-packages >/dev/null
# The service units run with PYTHONOPTIMIZE=2 PYTHONNODEBUGRANGES=1 (no docstrings, no column
# positions: less memory per process, issue 7) and /usr is read-only at run time, so the .opt-2.pyc
# files of everything they import (Debian's standard library and the wheels) are made here,
# without debug ranges. A module without one would be compiled in memory at every start.
chroot "$ROOT" python3 -X no_debug_ranges -m compileall -q -j 2 -o 2 \
  /usr/lib/python3.11 /usr/local/lib/python3.11/dist-packages >/dev/null || true
for f in /usr/lib/python3.11/asyncio/__pycache__/base_events \
         /usr/local/lib/python3.11/dist-packages/dbus_fast/__pycache__/introspection \
         /usr/local/lib/python3.11/dist-packages/evcharge/common/__pycache__/service; do
  [ -f "$ROOT$f.cpython-311.opt-2.pyc" ] || { echo "build-test-image: no $f.cpython-311.opt-2.pyc" >&2; exit 1; }
done

# The services the Yocto image ships: EVCHARGE_SERVICES of the python3-evcharge recipe (one
# source of truth), plus the update service with its boot gating units.
RECIPE=meta-evcharge/recipes-evcharge/python3-evcharge/python3-evcharge_0.1.0.bb
SERVICES="$(sed -n 's/^EVCHARGE_SERVICES *= *"\(.*\)"/\1/p' "$RECIPE" 2>/dev/null || true)"
SERVICES="${SERVICES:-board evse meter auth energy}"
case " $SERVICES " in *" update "*) ;; *) SERVICES="$SERVICES update" ;; esac
log "services: $SERVICES"
install -d "$ROOT/usr/lib/systemd/system" "$ROOT/usr/share/dbus-1/system.d" "$ROOT/etc/evcharge" \
           "$ROOT/usr/lib/sysusers.d" "$ROOT/usr/share/evcharge/boards"
units=()
for svc in $SERVICES; do
  bus="$(echo "$svc" | sed 's/^./\U&/')1"
  install -m 0644 "services/systemd/evcharge-$svc.service" "$ROOT/usr/lib/systemd/system/"
  install -m 0644 "services/dbus/org.evcharge.$bus.conf" "$ROOT/usr/share/dbus-1/system.d/"
  [ ! -f "services/config/$svc.yaml" ] || install -m 0644 "services/config/$svc.yaml" "$ROOT/etc/evcharge/"
  units+=("evcharge-$svc.service")
done
for u in evcharge-healthcheck.service evcharge-mark-good.service evcharge-update-reboot.service \
         evcharge-update-reboot.path; do
  install -m 0644 "services/systemd/$u" "$ROOT/usr/lib/systemd/system/"
  grep -q '^\[Install\]' "services/systemd/$u" && units+=("$u")
done
install -m 0644 services/systemd/evcharge.target "$ROOT/usr/lib/systemd/system/"
install -m 0644 services/sysusers.d/evcharge.conf "$ROOT/usr/lib/sysusers.d/"
install -m 0644 board-support/boards/*.yaml "$ROOT/usr/share/evcharge/boards/"
chroot "$ROOT" systemd-sysusers >/dev/null
chroot "$ROOT" systemctl enable evcharge.target "${units[@]}" >/dev/null 2>&1

# ---- test-image system: partitions, serial console, network, RAUC -------------------------------
install -m 0644 "$IMG"/units/*.mount "$IMG"/units/*.service "$ROOT/usr/lib/systemd/system/"
chroot "$ROOT" systemctl enable boot.mount data.mount var-lib-evcharge.mount >/dev/null 2>&1
mkdir -p "$ROOT/data" "$ROOT/var/lib/evcharge"
install -d "$ROOT/etc/systemd/system/serial-getty@ttyS0.service.d"
install -m 0644 "$IMG/autologin.conf" "$ROOT/etc/systemd/system/serial-getty@ttyS0.service.d/"
install -m 0644 "$IMG/20-dhcp.network" "$ROOT/etc/systemd/network/"
chroot "$ROOT" systemctl enable systemd-networkd serial-getty@ttyS0.service >/dev/null 2>&1
# Watchdogs and start timeouts for TCG on a loaded machine (tests/system/image/tcg-timing.conf).
for u in "${units[@]}"; do
  case "$u" in evcharge-*.service) ;; *) continue ;; esac
  grep -q '^WatchdogSec=' "services/systemd/$u" || continue
  install -d "$ROOT/etc/systemd/system/$u.d"
  install -m 0644 "$IMG/tcg-timing.conf" "$ROOT/etc/systemd/system/$u.d/"
done
install -D -m 0644 "$IMG/tcg-sysctl.conf" "$ROOT/etc/sysctl.d/90-evcharge-tcg.conf"
install -d "$ROOT/etc/systemd/system/evcharge-healthcheck.service.d"
install -m 0644 "$IMG/tcg-healthcheck.conf" "$ROOT/etc/systemd/system/evcharge-healthcheck.service.d/"
chroot "$ROOT" systemctl mask systemd-networkd-wait-online.service apt-daily.timer apt-daily-upgrade.timer \
  e2scrub_all.timer fstrim.timer getty@tty1.service >/dev/null 2>&1 || true
echo evcharge > "$ROOT/etc/hostname"
: > "$ROOT/etc/fstab"
passwd -R "$ROOT" -d root >/dev/null
echo "1" > "$ROOT/etc/evcharge-version"
# The OCPP client talks to a CSMS on the host: QEMU user networking shows the host's loopback
# as 10.0.2.2. The system tests run their CSMS on a free port and set it here at run time.
sed -i 's#^csms_url:.*#csms_url: ws://10.0.2.2:9000/ocpp#' "$ROOT/etc/evcharge/ocpp.yaml"
grep -q '^csms_url: ws://10.0.2.2:' "$ROOT/etc/evcharge/ocpp.yaml"

# Test CA (code signing), a second untrusted CA, RAUC system.conf with the test keyring.
PKI="$W/pki"
mkdir -p "$PKI"
mkca() {  # mkca <name>: <name>-ca.pem, <name>-signer.{pem,key}
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=evcharge $1 test CA" \
    -keyout "$PKI/$1-ca.key" -out "$PKI/$1-ca.pem" -addext basicConstraints=critical,CA:TRUE \
    -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=evcharge $1 test signer" \
    -keyout "$PKI/$1-signer.key" -out "$PKI/$1-signer.csr" 2>/dev/null
  printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\n' > "$PKI/ext"
  openssl x509 -req -in "$PKI/$1-signer.csr" -CA "$PKI/$1-ca.pem" -CAkey "$PKI/$1-ca.key" \
    -CAcreateserial -days 3650 -extfile "$PKI/ext" -out "$PKI/$1-signer.pem" 2>/dev/null
}
mkca test
mkca rogue
install -d "$ROOT/etc/rauc"
install -m 0644 "$PKI/test-ca.pem" "$ROOT/etc/rauc/ca.cert.pem"
install -m 0644 "$IMG/rauc-system.conf" "$ROOT/etc/rauc/system.conf"

# ---- file systems and disk ---------------------------------------------------------------------
USED_MB="$(du -sm "$ROOT" | cut -f1)"
SLOT_MB=$(( (USED_MB * 13 / 10 + 63) / 64 * 64 ))
log "rootfs ${USED_MB} MiB, slots ${SLOT_MB} MiB"
mkrootfs() {  # mkrootfs <version> <out>: the root file system of "version" as an ext4 image
  echo "$1" > "$ROOT/etc/evcharge-version"
  rm -f "$2"
  mkfs.ext4 -q -F -L rootfs -E root_owner=0:0 -U clear -d "$ROOT" "$2" "${SLOT_MB}M"
}
mkrootfs 1 "$W/rootfs-v1.ext4"

ESP="$W/esp.vfat"
rm -f "$ESP"; truncate -s 64M "$ESP"
mkfs.vfat -n BOOT "$ESP" >/dev/null
grub-mkimage -O x86_64-efi -p /EFI/BOOT -o "$W/BOOTX64.EFI" \
  part_gpt fat ext2 normal linux configfile loadenv test echo regexp search search_label search_fs_uuid \
  boot all_video efi_gop gzio cat
grub-editenv "$W/grubenv" create
grub-editenv "$W/grubenv" set ORDER="A B" A_OK=1 A_TRY=0 B_OK=0 B_TRY=0
mmd -i "$ESP" ::/EFI ::/EFI/BOOT
mcopy -i "$ESP" "$W/BOOTX64.EFI" "$IMG/grub.cfg" "$W/grubenv" ::/EFI/BOOT/

# data holds a bundle downloaded over HTTP (OCPP UpdateFirmware; v2 is ~150 MiB) besides the
# services' state, so it is sized for that.
DATA_MB=512
DATA="$W/data.ext4"
rm -f "$DATA"; mkfs.ext4 -q -F -L data "$DATA" "${DATA_MB}M"

DISK="$W/disk.img"
rm -f "$DISK"
TOTAL_MB=$(( 1 + 64 + SLOT_MB * 2 + DATA_MB + 1 ))
truncate -s "${TOTAL_MB}M" "$DISK"
sfdisk -q "$DISK" <<EOF
label: gpt
start=1MiB, size=64MiB, type=uefi, name=boot
size=${SLOT_MB}MiB, type=linux, name=rootfs_a
size=${SLOT_MB}MiB, type=linux, name=rootfs_b
size=${DATA_MB}MiB, type=linux, name=data
EOF
put() { dd if="$1" of="$DISK" bs=1M seek="$2" conv=notrunc,sparse status=none; }
put "$ESP" 1
put "$W/rootfs-v1.ext4" 65
put "$DATA" $(( 65 + SLOT_MB * 2 ))

# Kernel and initrd beside the disk (for direct kernel boot when debugging without GRUB).
cp "$ROOT"/boot/vmlinuz-* "$W/vmlinuz"
cp "$ROOT"/boot/initrd.img-* "$W/initrd.img"
cp /usr/share/OVMF/OVMF_CODE.fd "$W/OVMF_CODE.fd"
cp /usr/share/OVMF/OVMF_VARS.fd "$W/OVMF_VARS.fd"

# ---- RAUC bundles -------------------------------------------------------------------------------
mkbundle() {  # mkbundle <name> <rootfs image> <compatible> <signer> [--unsigned]
  local d="$W/bundle-$1" out="$W/bundles/$1.raucb"
  rm -rf "$d"; mkdir -p "$d" "$W/bundles"; rm -f "$out"
  ln "$2" "$d/rootfs.ext4" 2>/dev/null || cp "$2" "$d/rootfs.ext4"
  cat > "$d/manifest.raucm" <<EOF
[update]
compatible=$3
version=$1

[bundle]
format=verity

[image.rootfs]
filename=rootfs.ext4
EOF
  rauc bundle --cert="$PKI/$4-signer.pem" --key="$PKI/$4-signer.key" \
    --mksquashfs-args="-comp lz4" "$d" "$out" >/dev/null
  rm -rf "$d"
}
COMPAT="$(sed -n 's/^compatible=//p' "$IMG/rauc-system.conf")"
log "bundles"
mkrootfs 2 "$W/rootfs-v2.ext4"
mkbundle v2 "$W/rootfs-v2.ext4" "$COMPAT" test
rm -f "$W/rootfs-v2.ext4"
# v3: a bad release that boots but fails its health check: its board.yaml names a board
# profile that does not exist, so evcharge-board exits 78 (EX_CONFIG) and stays failed.
cp "$ROOT/etc/evcharge/board.yaml" "$W/board.yaml.good"
echo "profile: no-such-board" > "$ROOT/etc/evcharge/board.yaml"
mkrootfs 3 "$W/rootfs-v3.ext4"
cp "$W/board.yaml.good" "$ROOT/etc/evcharge/board.yaml"
mkbundle v3 "$W/rootfs-v3.ext4" "$COMPAT" test
rm -f "$W/rootfs-v3.ext4"
# The refused ones carry a small payload: they must never get as far as writing it.
mkdir -p "$W/small"; head -c 1M /dev/urandom > "$W/small/payload"
mkfs.ext4 -q -F -d "$W/small" "$W/small.ext4" 8M; rm -rf "$W/small"
mkbundle wrongcompat "$W/small.ext4" "evcharge-other-machine" test
mkbundle rogue "$W/small.ext4" "$COMPAT" rogue
mkbundle tampered "$W/small.ext4" "$COMPAT" test
# Tampered: flip bytes inside the squashfs payload (the signature covers only the verity root
# hash, so this is found when the payload is read through dm-verity).
printf '\xde\xad\xbe\xef\xde\xad\xbe\xef' | dd of="$W/bundles/tampered.raucb" bs=1 seek=8192 conv=notrunc status=none
# Unsigned: the squashfs of a bundle directory with no signature appended.
mkdir -p "$W/bundle-unsigned"
cp "$W/small.ext4" "$W/bundle-unsigned/rootfs.ext4"
printf '[update]\ncompatible=%s\nversion=unsigned\n\n[image.rootfs]\nfilename=rootfs.ext4\n' "$COMPAT" \
  > "$W/bundle-unsigned/manifest.raucm"
mksquashfs "$W/bundle-unsigned" "$W/bundles/unsigned.raucb" -comp lz4 -all-root -noappend -quiet >/dev/null
rm -rf "$W/bundle-unsigned" "$W/small.ext4" "$W/evwheel" "$W/deps" "$W/board.yaml.good"

rm -rf "$ROOT" "$ESP" "$DATA" "$W/rootfs-v1.ext4" "$W/BOOTX64.EFI" "$W/grubenv"
cat > "$W/image.env" <<EOF
EVCHARGE_SLOT_MB=$SLOT_MB
EVCHARGE_KERNEL=$KVER
EVCHARGE_COMPATIBLE=$COMPAT
EOF
touch "$W/done"
rm -rf "$OUT"
mv "$W" "$OUT"
log "done: $OUT"
echo "$OUT"
