# nooelint: oelint.var.mandatoryvar.HOMEPAGE - integration recipe of this layer, no upstream project
SUMMARY = "evcharge RAUC update bundle (root file system, verity format)"
DESCRIPTION = "Signed RAUC bundle carrying evcharge-image for the A/B root file system \
               slots; install with 'rauc install' or through the evcharge update service."
SECTION = "images"
LICENSE = "MIT"
# The bundle is made from evcharge-image in DEPLOY_DIR_IMAGE: no sources.
SRC_URI = ""

inherit bundle features_check

# Bundles evcharge-image, which needs the evcharge distro; skipped with another distro.
REQUIRED_DISTRO_FEATURES = "evcharge"

# verity: the bundle is checked block by block while it is installed (also when
# streamed), unlike the legacy plain format, which system.conf rejects.
RAUC_BUNDLE_FORMAT = "verity"
RAUC_BUNDLE_COMPATIBLE = "${EVCHARGE_RAUC_COMPATIBLE}"
RAUC_BUNDLE_VERSION = "${DISTRO_VERSION}"
RAUC_BUNDLE_DESCRIPTION = "evcharge ${DISTRO_VERSION} for ${MACHINE}"

RAUC_BUNDLE_SLOTS = "rootfs"
RAUC_SLOT_rootfs = "evcharge-image"
RAUC_SLOT_rootfs[fstype] = "ext4"
# Adaptive updates: RAUC only writes the blocks that differ from the installed slot
# (pays off with the reproducible builds the distro enables).
RAUC_SLOT_rootfs[adaptive] = "block-hash-index"

# RAUC_KEY_FILE, RAUC_CERT_FILE and RAUC_KEYRING_FILE come from the build configuration
# (conf/distro/evcharge.conf defaults, overridden for production); never from this layer.
