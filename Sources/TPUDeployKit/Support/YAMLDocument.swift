import Foundation
import Yams

/// A problem in a YAML file the user wrote (a profile or tpudeploy.yaml), naming the file and the key.
public struct YAMLFileError: Error, CustomStringConvertible, Sendable, Equatable {
    public var file: String
    public var key: String?
    public var problem: String

    public var description: String {
        if let key { return "\(file): \(key): \(problem)" }
        return "\(file): \(problem)"
    }
}

/// One mapping of a YAML file, read with checks that name the file and the full key of anything wrong,
/// so a typo in a profile says where it is instead of failing somewhere later.
public struct YAMLMapping {
    public let file: String
    public let keyPath: String
    private let values: [String: Any]

    /// Parses `text` (the contents of `file`) whose top level must be a mapping.
    public init(text: String, file: String) throws {
        let loaded: Any?
        do {
            loaded = try Yams.load(yaml: text)
        } catch {
            throw YAMLFileError(file: file, key: nil, problem: "not valid YAML: \(error)")
        }
        guard let mapping = loaded as? [String: Any] else {
            throw YAMLFileError(file: file, key: nil, problem: "expected a mapping of keys to values at the top level")
        }
        self.init(values: mapping, file: file, keyPath: "")
    }

    /// Reads and parses the file at `path`.
    public init(contentsOf path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw YAMLFileError(file: path, key: nil, problem: "cannot read the file")
        }
        try self.init(text: String(decoding: data, as: UTF8.self), file: path)
    }

    private init(values: [String: Any], file: String, keyPath: String) {
        self.values = values
        self.file = file
        self.keyPath = keyPath
    }

    private func fullKey(_ key: String) -> String { keyPath.isEmpty ? key : "\(keyPath).\(key)" }

    private func error(_ key: String, _ problem: String) -> YAMLFileError {
        YAMLFileError(file: file, key: fullKey(key), problem: problem)
    }

    /// Refuses keys outside `allowed`, so a misspelt key is reported instead of silently ignored.
    public func onlyKeys(_ allowed: [String]) throws {
        for key in values.keys.sorted() where !allowed.contains(key) {
            throw error(key, "unknown key; allowed here: \(allowed.joined(separator: ", "))")
        }
    }

    /// The keys of this mapping, sorted.
    public var keys: [String] { values.keys.sorted() }

    public func has(_ key: String) -> Bool { values[key] != nil && !(values[key] is NSNull) }

    public func string(_ key: String) throws -> String {
        guard let value = try optionalString(key) else { throw error(key, "required, but missing") }
        return value
    }

    public func optionalString(_ key: String) throws -> String? {
        guard has(key), let value = values[key] else { return nil }
        if let text = value as? String { return text }
        if let number = value as? Int { return String(number) }
        if let number = value as? Double { return String(number) }
        throw error(key, "expected text")
    }

    public func int(_ key: String) throws -> Int {
        guard let value = try optionalInt(key) else { throw error(key, "required, but missing") }
        return value
    }

    public func optionalInt(_ key: String) throws -> Int? {
        guard has(key), let value = values[key] else { return nil }
        if let number = value as? Int { return number }
        if let text = value as? String, let number = Int(text) { return number }
        throw error(key, "expected a whole number")
    }

    public func bool(_ key: String, default fallback: Bool) throws -> Bool {
        guard has(key), let value = values[key] else { return fallback }
        if let flag = value as? Bool { return flag }
        throw error(key, "expected true or false")
    }

    public func stringList(_ key: String) throws -> [String] {
        guard has(key), let value = values[key] else { throw error(key, "required, but missing") }
        if let text = value as? String { return [text] }
        guard let list = value as? [Any] else { throw error(key, "expected a list") }
        return try list.enumerated().map { index, item in
            guard let text = item as? String else { throw error("\(key)[\(index)]", "expected text") }
            return text
        }
    }

    /// A value that must be one of `allowed`.
    public func choice(_ key: String, from allowed: [String]) throws -> String {
        let value = try string(key)
        guard allowed.contains(value) else {
            throw error(key, "'\(value)' is not one of: \(allowed.joined(separator: ", "))")
        }
        return value
    }

    public func mapping(_ key: String) throws -> YAMLMapping {
        guard let value = try optionalMapping(key) else { throw error(key, "required, but missing") }
        return value
    }

    public func optionalMapping(_ key: String) throws -> YAMLMapping? {
        guard has(key), let value = values[key] else { return nil }
        guard let mapping = value as? [String: Any] else { throw error(key, "expected a mapping of keys to values") }
        return YAMLMapping(values: mapping, file: file, keyPath: fullKey(key))
    }

    /// Fails with a message about `key` — for checks the caller makes on a value it read.
    public func invalid(_ key: String, _ problem: String) -> YAMLFileError { error(key, problem) }
}

extension YAMLFileError: CodedError {
    public var errorCode: String { "yaml_invalid" }
}
