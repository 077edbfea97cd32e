/// Writes a changed board dtb back into a FIT boot image (`/boot/emmcboot.itb`) without unpacking it: the
/// image's data and every hash of it are replaced, every other image's bytes stay as they were.
///
/// An embedded-data FIT (what `mkimage -p 0x2000 -f multi.its`, the vendor's recipe, writes) is changed with one
/// libfdt `setprop` of the image's `data` plus its hash `value`s, then packed, keeping the free space the original
/// had after its strings block (the header layout — reservation map, structure, strings — is libfdt's and mkimage's
/// own). An external-data FIT (`mkimage -E`, with `data-offset`, or `-p` with `data-position`) is written anew:
/// the tree with the new `data-size` and the moved offsets of later images, then the data blobs in their original
/// order and alignment. A signed FIT is refused: it cannot be re-signed without the private key.
public enum FITRewriter {
    /// The complete new FIT file: `fit` with the `flat_dt` image `name`'s data replaced by `dtb` and its hashes
    /// recomputed. Throws `FITError.signed` for a signed image, `FITError.unsupportedHashAlgorithm` when one of
    /// the image's hash nodes names an algorithm tpudeploy does not compute (nothing is written with a wrong hash),
    /// and `FITRewriteError` when the image or the dtb cannot be used.
    ///
    /// Reads the whole file from `fit.source` (no copy when it is `InMemoryBytes`).
    public static func replacingDeviceTree(in fit: FITImage, image name: String, with dtb: [UInt8]) throws -> [UInt8] {
        try fit.requireUnsigned()
        let image = try fit.image(named: name)
        guard image.isDeviceTree else { throw FITRewriteError.notADeviceTreeImage(image: name, type: image.type) }
        if let compression = image.compression, compression != "none" {
            throw FITRewriteError.compressedImage(image: name, compression: compression)
        }
        let declaredSize: Int
        do { declaredSize = try FlatDeviceTree(bytes: dtb).totalSize } catch let error as DeviceTreeError {
            throw FITRewriteError.replacementIsNotADeviceTree(image: name, reason: error.description)
        }
        guard declaredSize == dtb.count else {
            throw FITRewriteError.replacementIsNotADeviceTree(
                image: name, reason: "its header declares \(declaredSize) bytes but \(dtb.count) were given")
        }
        return try replacingData(of: image, in: fit, with: dtb)
    }

    /// Replaces any image's stored bytes; the caller has checked that `data` suits the image.
    static func replacingData(of image: FITSubimage, in fit: FITImage, with data: [UInt8]) throws -> [UInt8] {
        guard let location = image.data else { throw FITError.imageHasNoData(image: image.name) }
        // Every digest first: an unknown algorithm stops the rewrite before anything is changed.
        let digests = try image.hashes.map { hash -> (node: String, value: [UInt8]) in
            guard let algorithm = FITHashAlgorithm(rawValue: hash.algo) else {
                throw FITError.unsupportedHashAlgorithm(image: image.name, hashNode: hash.nodeName, algorithm: hash.algo)
            }
            return (hash.nodeName, algorithm.digest(data))
        }
        let file = try wholeFile(of: fit)
        let plan = try FITExternalDataPlan(fit: fit, replacing: image, newSize: data.count)

        let treeSize = fit.index.totalSize
        // Room for a larger dtb up front, so that libfdt never has to copy the 30–40 MB tree into a larger buffer.
        let growth = location.storage == .embedded
            ? max(0, FITExternalDataPlan.aligned(data.count) - FITExternalDataPlan.aligned(location.size)) : 0
        var tree = try FlatDeviceTree(
            bytes: file.count == treeSize ? file : Array(file[..<treeSize]), reservingFreeSpace: growth)
        let freeSpace = tree.freeSpaceAtEnd - growth
        let imagePath = "/images/" + image.name
        if location.storage == .embedded {
            try tree.setProperty("data", to: data, at: imagePath)
        }
        for edit in try plan.treeEdits() {
            try tree.setProperty(edit.property, to: edit.value, at: "/images/" + edit.image)
        }
        for digest in digests {
            try tree.setProperty("value", to: digest.value, at: imagePath + "/" + digest.node)
        }
        // Same-size values are written in place; only a tree that changed size needs packing.
        if tree.totalSize != treeSize || tree.freeSpaceAtEnd != freeSpace || growth > 0 {
            try tree.pack(leavingFreeSpace: freeSpace)
        }
        return try plan.assemble(tree: tree.bytes, originalFile: file, newData: data)
    }

    /// The whole FIT file.
    static func wholeFile(of fit: FITImage) throws -> [UInt8] {
        if let memory = fit.source as? InMemoryBytes { return memory.contents }
        return try fit.source.bytes(at: 0, count: fit.source.count)
    }
}
