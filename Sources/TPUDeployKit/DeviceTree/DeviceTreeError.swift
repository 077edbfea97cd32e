import CLibFDT

/// A flattened device tree could not be read or changed; carries libfdt's own code and message where libfdt
/// refused, and the node path and property involved.
public enum DeviceTreeError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The bytes do not start with a usable device tree header (wrong magic, unsupported version, too short).
    case notADeviceTree(reason: String)
    /// The header declares more bytes than were given.
    case truncated(declaredBytes: Int, availableBytes: Int)
    /// libfdt returned an error code; `operation` says what tpudeploy asked of it.
    case libfdt(operation: String, code: Int32, message: String, path: String?, property: String?)
    /// A property exists but its value does not have the expected shape.
    case malformedProperty(path: String, property: String, reason: String)

    /// The negative `FDT_ERR_*` code, when libfdt reported this error.
    public var libfdtCode: Int32? {
        if case .libfdt(_, let code, _, _, _) = self { return code }
        return nil
    }

    /// True when libfdt reported that the node (or property) does not exist.
    public var isNotFound: Bool { libfdtCode == -FDT_ERR_NOTFOUND }

    public var description: String {
        switch self {
        case .notADeviceTree(let reason):
            return "not a flattened device tree (dtb): \(reason)"
        case .truncated(let declared, let available):
            return "the device tree is truncated: its header declares \(declared) bytes but only \(available) are there"
        case .libfdt(let operation, let code, let message, let path, let property):
            var subject = ""
            if let property { subject += " property '\(property)'" }
            if let path { subject += (property == nil ? " node " : " of node ") + path }
            return "device tree: cannot \(operation)\(subject): \(message) (libfdt error \(code))"
        case .malformedProperty(let path, let property, let reason):
            return "device tree: property '\(property)' of node \(path) is malformed: \(reason)"
        }
    }

    /// Wraps a negative libfdt return code.
    static func fromLibFDT(_ code: Int32, _ operation: String, path: String? = nil, property: String? = nil)
        -> DeviceTreeError
    {
        let message = fdt_strerror(code).map { String(cString: $0) } ?? "unknown error"
        return .libfdt(operation: operation, code: code, message: message, path: path, property: property)
    }
}

extension DeviceTreeError: CodedError {
    public var errorCode: String {
        switch self {
        case .notADeviceTree: return "dtb_invalid"
        case .truncated: return "dtb_truncated"
        case .libfdt: return "dtb_libfdt_failed"
        case .malformedProperty: return "dtb_malformed_property"
        }
    }
}
