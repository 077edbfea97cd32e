/// The one path from a boot image and a request to a new boot image, used by `fix-memory` on a board and
/// on local files alike: find the board's dtb in the FIT, plan the heaps, edit the dtb, write it back with
/// fresh hashes.
public struct BootImageEdit: Sendable {
    /// The FIT image holding the board's dtb, e.g. "fdt-1".
    public let fdtImage: String
    public let limits: LayoutLimits
    public let plan: MemoryPlan
    /// The new FIT file, or nil when the image already has the requested layout.
    public let editedImage: [UInt8]?

    /// Plans and performs the edit in memory. Throws before anything is written: a signed image, a dtb the
    /// image lacks, a request the board cannot hold (with the maximum), or a layout the planner refuses.
    /// With `verifying` (the default), every other image's stored hashes are checked first, so a damaged
    /// kernel or ramdisk is never carried into a new image, and the new image is read back: only the board's
    /// dtb differs, its hashes verify, and it has the planned layout.
    ///
    /// Without `verifying`, the new image is `image`'s own buffer edited in place: when the caller passes the
    /// only reference to it (read with `LocalFile.read(_:spareCapacity: FITRewriter.roomToGrow)`), the 30 MB
    /// file is never copied. With it, the original is kept to check the new image against.
    public init(image: consuming [UInt8], dtb: String, sizing: LayoutSizing, minimumLinuxMiB: UInt64, verifying: Bool = true) throws {
        let fit = try FITImage(bytes: copy image)
        try fit.requireUnsigned()
        let (fdt, tree) = try fit.deviceTreeImage(forDTB: dtb)
        let layout = try BoardMemoryLayout(deviceTree: tree)
        let limits = try MemoryPlanner.limits(for: layout)
        let plan: MemoryPlan
        if case .exact(_, let exactLayout) = sizing {
            plan = try MemoryPlanner.plan(exactly: exactLayout, for: tree)
        } else {
            let capacity = LayoutCapacity(layout: layout, limits: limits, minimumLinuxMiB: minimumLinuxMiB)
            let request = try sizing.request(limits: limits, capacity: capacity)
            plan = try MemoryPlanner.plan(request, for: tree, minimumLinuxMiB: minimumLinuxMiB)
        }
        self.fdtImage = fdt.name
        self.limits = limits
        self.plan = plan
        guard !plan.isNoChange else {
            editedImage = nil
            if verifying { try Self.verifyOtherImages(of: fit, besides: fdt.name) }
            return
        }
        var edited = tree
        try MemoryPlanner.apply(plan, to: &edited)
        try edited.pack()
        let rewrite = try FITRewriter.deviceTreeRewrite(in: fit, image: fdt.name, with: edited.bytes)
        guard verifying else {
            // The FIT's reference to the buffer goes first, so that the edit finds it unshared and stays in place.
            _ = consume fit
            var file = consume image
            try rewrite.apply(to: &file)
            editedImage = file
            return
        }
        let editedImage = try rewrite.applied(to: image)
        self.editedImage = editedImage
        try Self.verifyOtherImages(of: fit, besides: fdt.name)
        let written = try FITImage(bytes: editedImage)
        let dtbBytes = try written.data(of: written.image(named: fdt.name))
        try FITRewriter.verify(editedImage, original: fit, changedImage: fdt.name, data: dtbBytes)
        guard try BoardMemoryLayout(deviceTree: FlatDeviceTree(bytes: dtbBytes)) == plan.after else {
            throw FITRewriteError.verificationFailed(reason: "the rewritten dtb does not have the planned layout")
        }
    }

    /// Checks every image but the board's dtb against its stored hashes, so that a damaged kernel or ramdisk is
    /// never carried into a new image.
    private static func verifyOtherImages(of fit: FITImage, besides dtb: String) throws {
        for other in fit.images where other.name != dtb {
            // An algorithm tpudeploy does not compute is left to U-Boot; on the rewritten dtb it was refused above.
            do { try fit.verifyHashes(of: other) } catch FITError.unsupportedHashAlgorithm {}
        }
    }
}
