SUMMARY = "evcharge production image"
DESCRIPTION = "Charger firmware: systemd, D-Bus, the evcharge services and RAUC A/B \
               updates on a read-only root file system; no login over the network, no \
               debug tools."
SECTION = "images"
LICENSE = "MIT"

# Production: the root file system is never written at run time (it is also the RAUC slot
# image, so what was signed is what runs). Service state lives in /var/lib/evcharge, bound
# from the data partition by evcharge-partitions; the rest of /var is volatile.
IMAGE_FEATURES = "read-only-rootfs"

require evcharge-image.inc
