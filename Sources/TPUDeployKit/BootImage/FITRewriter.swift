/// Writes a changed board dtb back into a FIT boot image (`/boot/emmcboot.itb`) without unpacking it: the
/// image's data and every hash of it are replaced, every other image's bytes stay as they were.
///
/// An embedded-data FIT (what `mkimage -p 0x2000 -f multi.its`, the vendor's recipe, writes) is changed with one
/// libfdt `setprop` of the image's `data` plus its hash `value`s, then packed, keeping the free space the original
/// had after its strings block (the header layout — reservation map, structure, strings — is libfdt's and mkimage's
/// own). An external-data FIT (`mkimage -E`, with `data-offset`, or `-p` with `data-position`) is written anew:
/// the tree with the new `data-size` and the moved offsets of later images, then the data blobs in their original
/// order and alignment. A signed FIT is refused: it cannot be re-signed without the private key.
///
/// The embedded-data edit is made in one buffer: the new file is the old one's bytes with libfdt's changes made
/// where they lie (see `FITRewrite`), so a 30 MB image costs one copy at most and none when edited in place.
public enum FITRewriter {
    /// The complete new FIT file: `fit` with the `flat_dt` image `name`'s data replaced by `dtb` and its hashes
    /// recomputed. Throws `FITError.signed` for a signed image, `FITError.unsupportedHashAlgorithm` when one of
    /// the image's hash nodes names an algorithm tpudeploy does not compute (nothing is written with a wrong hash),
    /// and `FITRewriteError` when the image or the dtb cannot be used.
    ///
    /// Reads the whole file from `fit.source` (in place when it is `InMemoryBytes`) and writes the new one into a
    /// buffer of its own: `fit` stays valid. To edit a file's own buffer instead, see `FITRewrite.apply(to:)`.
    public static func replacingDeviceTree(in fit: FITImage, image name: String, with dtb: [UInt8]) throws -> [UInt8] {
        try deviceTreeRewrite(in: fit, image: name, with: dtb).applied(to: wholeFile(of: fit))
    }

    /// Spare capacity a reader of a FIT file can leave after its bytes so that a rewrite in place has room for a
    /// larger dtb (`LocalFile.read(_:spareCapacity:)`): more than fix-memory's dtb edits add.
    public static let roomToGrow = 64 * 1024

    /// The checked change of `fit`'s `flat_dt` image `name` to `dtb`, not yet applied.
    static func deviceTreeRewrite(in fit: FITImage, image name: String, with dtb: [UInt8]) throws -> FITRewrite {
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
        return try FITRewrite(replacing: image, in: fit, with: dtb)
    }

    /// The whole FIT file.
    static func wholeFile(of fit: FITImage) throws -> [UInt8] {
        if let memory = fit.source as? InMemoryBytes { return memory.contents }
        return try fit.source.bytes(at: 0, count: fit.source.count)
    }
}
