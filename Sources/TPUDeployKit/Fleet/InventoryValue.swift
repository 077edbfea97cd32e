import Foundation

/// A variable's value in an inventory: what YAML, Ansible's JSON and INI's Python literals can hold.
public enum InventoryValue: Sendable, Equatable, Codable, CustomStringConvertible {
    case string(String)
    case int(Int)
    case double(Double)
    case bool(Bool)
    case list([InventoryValue])
    case map([String: InventoryValue])
    case null

    /// The value as text for settings such as a host name or a user; nil for lists, maps and null.
    public var text: String? {
        switch self {
        case .string(let text): return text
        case .int(let number): return String(number)
        case .double(let number): return String(number)
        case .bool(let flag): return flag ? "true" : "false"
        case .list, .map, .null: return nil
        }
    }

    public var description: String {
        if let text { return text }
        return (try? String(decoding: JSONEncoder().encode(self), as: UTF8.self)) ?? "?"
    }

    /// A value of an INI host line (`key=value`), read as Ansible reads it: a Python literal when it is one
    /// (numbers, True/False/None, a quoted string), else the text itself.
    static func pythonLiteral(_ text: String) -> InventoryValue {
        if let number = Int(text) { return .int(number) }
        if text.contains(where: \.isNumber), text.allSatisfy({ $0.isNumber || "+-.eE".contains($0) }), let number = Double(text) {
            return .double(number)
        }
        switch text {
        case "True": return .bool(true)
        case "False": return .bool(false)
        case "None": return .null
        default: return .string(text)
        }
    }

    /// Converts a scalar Yams constructed (native Swift values, resolved by YAML's tags).
    static func scalar(_ any: Any?) -> InventoryValue {
        switch any {
        case nil, is NSNull: return .null
        case let flag as Bool: return .bool(flag)
        case let number as Int: return .int(number)
        case let number as Double: return .double(number)
        case let text as String: return .string(text)
        case let some?: return .string(String(describing: some))
        }
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let flag = try? container.decode(Bool.self) { self = .bool(flag) }
        else if let number = try? container.decode(Int.self) { self = .int(number) }
        else if let number = try? container.decode(Double.self) { self = .double(number) }
        else if let text = try? container.decode(String.self) { self = .string(text) }
        else if let list = try? container.decode([InventoryValue].self) { self = .list(list) }
        else { self = .map(try container.decode([String: InventoryValue].self)) }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .string(let text): try container.encode(text)
        case .int(let number): try container.encode(number)
        case .double(let number): try container.encode(number)
        case .bool(let flag): try container.encode(flag)
        case .list(let list): try container.encode(list)
        case .map(let map): try container.encode(map)
        case .null: try container.encodeNil()
        }
    }
}
