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
    public init(image: [UInt8], dtb: String, sizing: LayoutSizing, minimumLinuxMiB: UInt64, verifying: Bool = true) throws {
        let fit = try FITImage(bytes: image)
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
        if plan.isNoChange {
            editedImage = nil
        } else {
            var edited = tree
            try MemoryPlanner.apply(plan, to: &edited)
            try edited.pack()
            editedImage = try FITRewriter.replacingDeviceTree(in: fit, image: fdt.name, with: edited.bytes)
        }
        guard verifying else { return }
        for other in fit.images where other.name != fdt.name {
            // An algorithm tpudeploy does not compute is left to U-Boot; on the rewritten dtb it was refused above.
            do { try fit.verifyHashes(of: other) } catch FITError.unsupportedHashAlgorithm {}
        }
        if let editedImage {
            let written = try FITImage(bytes: editedImage)
            let dtbBytes = try written.data(of: written.image(named: fdt.name))
            try FITRewriter.verify(editedImage, original: fit, changedImage: fdt.name, data: dtbBytes)
            guard try BoardMemoryLayout(deviceTree: FlatDeviceTree(bytes: dtbBytes)) == plan.after else {
                throw FITRewriteError.verificationFailed(reason: "the rewritten dtb does not have the planned layout")
            }
        }
    }
}
