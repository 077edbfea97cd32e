/// A boot image (FIT) could not be rewritten as asked, or the rewritten file failed its check. Problems with the
/// image itself (signed, unknown hash algorithm, damaged) are `FITError`s.
public enum FITRewriteError: Error, CustomStringConvertible, Sendable, Equatable {
    /// Only `flat_dt` images are replaced by a dtb.
    case notADeviceTreeImage(image: String, type: String?)
    /// The image's data is compressed; tpudeploy writes uncompressed dtbs only.
    case compressedImage(image: String, compression: String)
    /// The bytes given as the new dtb are not a usable device tree.
    case replacementIsNotADeviceTree(image: String, reason: String)
    /// Some images use `data-offset` and others `data-position`: not something mkimage writes.
    case mixedExternalData(offsetImages: [String], positionImages: [String])
    /// Two images' external data overlap, so one cannot be resized without changing the other.
    case overlappingData(image: String, other: String)
    /// A new size or offset does not fit the property's cells.
    case valueTooLarge(image: String, property: String, value: Int)
    /// With `data-position`, the rewritten tree would run into the first image's data.
    case treeOverlapsExternalData(treeBytes: Int, firstDataPosition: Int)
    /// The rewritten file, read back, is not what was meant to be written.
    case verificationFailed(reason: String)

    public var description: String {
        switch self {
        case .notADeviceTreeImage(let image, let type):
            return "image '\(image)' of the boot image is of type \(type.map { "'\($0)'" } ?? "(none)"), not a "
                + "flat_dt board dtb; only dtb images can be replaced"
        case .compressedImage(let image, let compression):
            return "image '\(image)' of the boot image is \(compression)-compressed; tpudeploy only rewrites "
                + "uncompressed dtbs (compression = \"none\"), so change it with mkimage instead"
        case .replacementIsNotADeviceTree(let image, let reason):
            return "the new dtb for image '\(image)' is not a usable device tree (\(reason)); nothing was written"
        case .mixedExternalData(let offsetImages, let positionImages):
            return "the boot image mixes data-offset (\(offsetImages.joined(separator: ", "))) and data-position "
                + "(\(positionImages.joined(separator: ", "))) images; repack it with mkimage before changing it"
        case .overlappingData(let image, let other):
            return "the external data of images '\(image)' and '\(other)' overlap, so '\(image)' cannot be "
                + "resized on its own; repack the boot image with mkimage before changing it"
        case .valueTooLarge(let image, let property, let value):
            return "image '\(image)' would need \(property) = \(value), which does not fit the property's cells"
        case .treeOverlapsExternalData(let treeBytes, let position):
            return "the rewritten tree (\(treeBytes) bytes) would run into the external data placed at "
                + "\(HexText.number(position)) (mkimage -p); repack the boot image with a larger -p position"
        case .verificationFailed(let reason):
            return "the rewritten boot image failed its check (\(reason)); nothing should be installed from it"
        }
    }
}

extension FITRewriteError: CodedError {
    public var errorCode: String {
        switch self {
        case .notADeviceTreeImage: return "fit_image_not_a_dtb"
        case .compressedImage: return "fit_compressed_image"
        case .replacementIsNotADeviceTree: return "fit_replacement_not_a_dtb"
        case .mixedExternalData: return "fit_mixed_external_data"
        case .overlappingData: return "fit_overlapping_data"
        case .valueTooLarge: return "fit_value_too_large"
        case .treeOverlapsExternalData: return "fit_tree_overlaps_data"
        case .verificationFailed: return "fit_rewrite_unverified"
        }
    }
}
