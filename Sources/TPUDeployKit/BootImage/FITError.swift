/// A boot image (U-Boot FIT, e.g. /boot/emmcboot.itb) could not be read or cannot be used as asked.
public enum FITError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The file is not a flattened device tree at all (a FIT is one).
    case notAFlattenedDeviceTree(reason: String)
    /// The file ends before the tree its header declares.
    case truncated(declaredBytes: Int, availableBytes: Int)
    /// The tree's blocks or tokens are inconsistent.
    case malformedTree(reason: String)
    /// A valid device tree without `/images`: a plain dtb, not a FIT image.
    case noImages
    /// No `/images/<name>` node.
    case imageNotFound(name: String)
    /// The image node has neither `data` nor `data-size` with `data-offset`/`data-position`.
    case imageHasNoData(image: String)
    /// None of the `flat_dt` images is the board's dtb; `available` lists the dtb names that are there.
    case deviceTreeNotFound(fileName: String, available: [String])
    /// A `flat_dt` image's data is not a usable device tree.
    case imageIsNotADeviceTree(image: String, reason: String)
    /// The image carries `signature-N` nodes: changing it would need the private key.
    case signed(signatureNodes: [String])
    /// An external-data image points outside the file.
    case externalDataOutOfBounds(image: String, offset: Int, size: Int, fileBytes: Int)
    /// A stored hash does not match the image data.
    case hashMismatch(image: String, hashNode: String, algorithm: String, stored: String, computed: String)
    /// A hash node names an algorithm tpudeploy does not compute.
    case unsupportedHashAlgorithm(image: String, hashNode: String, algorithm: String)
    /// A property has an unexpected shape.
    case malformedProperty(path: String, property: String, reason: String)

    public var description: String {
        switch self {
        case .notAFlattenedDeviceTree(let reason):
            return "not a FIT boot image: the file is not a flattened device tree (\(reason))"
        case .truncated(let declared, let available):
            return "the boot image is truncated: its header declares \(declared) bytes but the file has \(available); "
                + "copy it again or restore the backup"
        case .malformedTree(let reason):
            return "the boot image is damaged: \(reason)"
        case .noImages:
            return "not a FIT boot image: the device tree has no /images node (is this a plain dtb?)"
        case .imageNotFound(let name):
            return "the boot image has no image '\(name)' under /images"
        case .imageHasNoData(let image):
            return "image '\(image)' of the boot image has no data"
        case .deviceTreeNotFound(let fileName, let available):
            let list = available.isEmpty ? "none" : available.joined(separator: ", ")
            return "the boot image holds no dtb named \(fileName) (it holds: \(list)); "
                + "check the board's /proc/device-tree/info/file-name"
        case .imageIsNotADeviceTree(let image, let reason):
            return "image '\(image)' of the boot image is not a usable dtb: \(reason)"
        case .signed(let nodes):
            return "the boot image is signed (\(nodes.joined(separator: ", "))): tpudeploy cannot change it without "
                + "the signing key; re-sign it with your own tooling instead"
        case .externalDataOutOfBounds(let image, let offset, let size, let fileBytes):
            return "image '\(image)' points at \(size) bytes at offset \(offset), past the end of the \(fileBytes)-byte "
                + "boot image; the file is damaged or truncated"
        case .hashMismatch(let image, let hashNode, let algorithm, let stored, let computed):
            return "image '\(image)' is damaged: its \(algorithm) (\(hashNode)) is \(computed) but the image "
                + "records \(stored); restore the backup boot image"
        case .unsupportedHashAlgorithm(let image, let hashNode, let algorithm):
            return "image '\(image)' has a \(algorithm) hash (\(hashNode)), which tpudeploy cannot check "
                + "(it knows crc32, sha1 and sha256)"
        case .malformedProperty(let path, let property, let reason):
            return "the boot image's property '\(property)' of \(path) is malformed: \(reason)"
        }
    }
}

extension FITError: CodedError {
    public var errorCode: String {
        switch self {
        case .notAFlattenedDeviceTree: return "fit_invalid"
        case .truncated: return "fit_truncated"
        case .malformedTree: return "fit_malformed"
        case .noImages: return "fit_no_images"
        case .imageNotFound: return "fit_image_not_found"
        case .imageHasNoData: return "fit_image_without_data"
        case .deviceTreeNotFound: return "dtb_not_in_image"
        case .imageIsNotADeviceTree: return "fit_image_not_a_dtb"
        case .signed: return "fit_signed"
        case .externalDataOutOfBounds: return "fit_data_out_of_bounds"
        case .hashMismatch: return "fit_hash_mismatch"
        case .unsupportedHashAlgorithm: return "fit_unsupported_hash"
        case .malformedProperty: return "fit_malformed"
        }
    }
}
