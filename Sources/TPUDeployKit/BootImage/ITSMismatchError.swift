/// A FIT source (`multi.its`) does not describe the boot image it was given with: the first difference found.
public enum ITSMismatchError: Error, CustomStringConvertible, Sendable, Equatable {
    case imageMissingFromFIT(image: String)
    case imageMissingFromITS(image: String)
    case imageOrderDiffers(its: [String], fit: [String])
    case imageTypeDiffers(image: String, its: String?, fit: String?)
    case imageDescriptionDiffers(image: String, its: String?, fit: String?)
    case hashAlgorithmsDiffer(image: String, its: [String], fit: [String])
    /// The `/incbin/` file of a dtb image is not the name the dtb carries in `/info/file-name`.
    case dtbFileDiffers(image: String, its: String, fit: String)
    case defaultConfigurationDiffers(its: String?, fit: String?)
    case configurationMissingFromFIT(configuration: String)
    case configurationMissingFromITS(configuration: String)
    /// `field` is `kernel`, `ramdisk` or `fdt`.
    case configurationDiffers(configuration: String, field: String, its: String?, fit: String?)

    public var description: String {
        "the .its does not belong to the boot image: \(difference); use the multi.its that was built together "
            + "with this emmcboot.itb"
    }

    private var difference: String {
        func text(_ value: String?) -> String { value.map { "'\($0)'" } ?? "none" }
        func list(_ values: [String]) -> String { values.isEmpty ? "none" : values.joined(separator: ", ") }
        switch self {
        case .imageMissingFromFIT(let image):
            return "it describes image '\(image)', which the boot image does not have"
        case .imageMissingFromITS(let image):
            return "the boot image has image '\(image)', which the .its does not describe"
        case .imageOrderDiffers(let its, let fit):
            return "its images are in the order \(list(its)) but the boot image's are \(list(fit))"
        case .imageTypeDiffers(let image, let its, let fit):
            return "image '\(image)' has type \(text(its)) in the .its but \(text(fit)) in the boot image"
        case .imageDescriptionDiffers(let image, let its, let fit):
            return "image '\(image)' is described as \(text(its)) in the .its but \(text(fit)) in the boot image"
        case .hashAlgorithmsDiffer(let image, let its, let fit):
            return "image '\(image)' has hashes \(list(its)) in the .its but \(list(fit)) in the boot image"
        case .dtbFileDiffers(let image, let its, let fit):
            return "image '\(image)' is built from \(its) in the .its but the boot image's dtb is \(fit)"
        case .defaultConfigurationDiffers(let its, let fit):
            return "the default configuration is \(text(its)) in the .its but \(text(fit)) in the boot image"
        case .configurationMissingFromFIT(let configuration):
            return "it describes configuration '\(configuration)', which the boot image does not have"
        case .configurationMissingFromITS(let configuration):
            return "the boot image has configuration '\(configuration)', which the .its does not describe"
        case .configurationDiffers(let configuration, let field, let its, let fit):
            return "configuration '\(configuration)' boots \(field) \(text(its)) in the .its but \(text(fit)) in the boot image"
        }
    }
}

/// A FIT source (`multi.its`) could not be read: the line and what was wrong there.
public struct ITSSyntaxError: Error, CustomStringConvertible, Sendable, Equatable {
    public var fileName: String
    public var line: Int
    public var reason: String

    public var description: String {
        "cannot read \(fileName), line \(line): \(reason) (tpudeploy reads .its files like dtc, without the C "
            + "preprocessor, /include/ or expressions)"
    }
}

extension ITSMismatchError: CodedError {
    public var errorCode: String { "its_mismatch" }
}

extension ITSSyntaxError: CodedError {
    public var errorCode: String { "its_syntax" }
}
