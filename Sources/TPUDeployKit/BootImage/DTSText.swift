/// A node of device tree source text (`.dts`, `.its`) as read by `DTSText`: names and values, nothing evaluated.
struct DTSNode: Sendable, Equatable {
    var name: String
    var line: Int
    var properties: [DTSProperty] = []
    var children: [DTSNode] = []

    func child(_ name: String) -> DTSNode? { children.first { $0.name == name } }
    func property(_ name: String) -> DTSProperty? { properties.first { $0.name == name } }

    /// Adds a property, replacing an earlier one of the same name as dtc does.
    mutating func set(_ property: DTSProperty) {
        if let index = properties.firstIndex(where: { $0.name == property.name }) {
            properties[index] = property
        } else {
            properties.append(property)
        }
    }

    /// Adds a child node, or merges it into an existing one of the same name as dtc does (later properties win).
    mutating func add(_ child: DTSNode) {
        if let index = children.firstIndex(where: { $0.name == child.name }) {
            children[index].merge(child)
        } else {
            children.append(child)
        }
    }

    /// Merges another definition of this node into it.
    mutating func merge(_ other: DTSNode) {
        for property in other.properties { set(property) }
        for child in other.children { add(child) }
    }
}

struct DTSProperty: Sendable, Equatable {
    var name: String
    var line: Int
    var values: [DTSValue]
}

/// One comma-separated piece of a property value, kept as written.
enum DTSValue: Sendable, Equatable {
    case string(String)
    /// The text between `<` and `>`.
    case cells(String)
    /// The text between `[` and `]`.
    case bytes(String)
    /// `/incbin/("path"…)`: the file name.
    case incbin(String)
    /// `&label` or `&{/path}`.
    case reference(String)
}

/// A small reader of device tree source text: enough of dtc's grammar for the `.its` files mkimage compiles
/// (`/dts-v1/`, nodes, labels, strings, `<cells>`, `[bytes]`, `/incbin/`, comments). It does not run the C
/// preprocessor, follow `/include/`, apply `&label { }` overrides or `/delete-…/`, nor evaluate cell expressions;
/// such input is refused with a `ITSSyntaxError` naming the line.
struct DTSText {
    private let bytes: [UInt8]
    private let fileName: String
    private var position = 0
    private var line = 1

    /// The merged root node of `text`.
    static func parse(_ text: String, fileName: String) throws -> DTSNode {
        var reader = DTSText(bytes: Array(text.utf8), fileName: fileName)
        return try reader.file()
    }

    private init(bytes: [UInt8], fileName: String) {
        self.bytes = bytes
        self.fileName = fileName
    }

    // MARK: Grammar

    private mutating func file() throws -> DTSNode {
        var root = DTSNode(name: "/", line: 1)
        var sawRoot = false
        while true {
            let token = try next()
            switch token.kind {
            case .end:
                guard sawRoot else { throw error("there is no root node (`/ { … };`)", line: token.line) }
                return root
            case .directive("/dts-v1/"), .directive("/plugin/"):
                try expect(";", after: token.text)
            case .directive("/memreserve/"):
                while try next().kind != .punctuation(";") {}
            case .punctuation("/"):
                try expect("{", after: "/")
                if !sawRoot { root.line = token.line }
                root.merge(try nodeBody(named: "/", line: token.line))
                sawRoot = true
            case .word where try peekIsColon():
                _ = try next()  // the `:` of a label before the root node
            default:
                throw unsupported(token)
            }
        }
    }

    /// The properties and children after a node's `{`, up to and including its `};`.
    private mutating func nodeBody(named name: String, line: Int) throws -> DTSNode {
        var node = DTSNode(name: name, line: line)
        while true {
            let token = try next()
            switch token.kind {
            case .punctuation("}"):
                try expect(";", after: "}")
                return node
            case .word(var word):
                while try peekIsColon() {  // labels: `ion_npu_mem: ion_npu_mem {`
                    _ = try next()
                    let labelled = try next()
                    guard case .word(let name) = labelled.kind else { throw unsupported(labelled) }
                    word = name
                }
                guard !word.hasPrefix("&") else { throw unsupported(token) }
                let after = try next()
                switch after.kind {
                case .punctuation("{"):
                    node.add(try nodeBody(named: word, line: token.line))
                case .punctuation("="):
                    node.set(DTSProperty(name: word, line: token.line, values: try values(of: word)))
                case .punctuation(";"):
                    node.set(DTSProperty(name: word, line: token.line, values: []))
                default:
                    throw error("expected `{`, `=` or `;` after `\(word)`, found `\(after.text)`", line: after.line)
                }
            case .end:
                throw error("the file ends inside node `\(name)` (opened on line \(line))", line: token.line)
            default:
                throw unsupported(token)
            }
        }
    }

    /// `value, value, …;` after a property's `=`.
    private mutating func values(of property: String) throws -> [DTSValue] {
        var values: [DTSValue] = []
        while true {
            var token = try next()
            while case .word = token.kind, try peekIsColon() {  // a label inside a value
                _ = try next()
                token = try next()
            }
            switch token.kind {
            case .string(let text): values.append(.string(text))
            case .cells(let text): values.append(.cells(text))
            case .bytes(let text): values.append(.bytes(text))
            case .word(let word) where word.hasPrefix("&"): values.append(.reference(String(word.dropFirst())))
            case .directive("/incbin/"):
                try expect("(", after: "/incbin/")
                let path = try next()
                guard case .string(let file) = path.kind else {
                    throw error("expected a file name in quotes after `/incbin/(`", line: path.line)
                }
                values.append(.incbin(file))
                argumentLoop: while true {  // optional offset and length
                    let argument = try next()
                    switch argument.kind {
                    case .punctuation(")"): break argumentLoop
                    case .punctuation(","), .word: continue
                    default: throw error("unexpected `\(argument.text)` in /incbin/( … )", line: argument.line)
                    }
                }
            default:
                throw error("unexpected `\(token.text)` in the value of `\(property)`", line: token.line)
            }
            let separator = try next()
            switch separator.kind {
            case .punctuation(","): continue
            case .punctuation(";"): return values
            default:
                throw error("expected `,` or `;` after a value of `\(property)`, found `\(separator.text)`", line: separator.line)
            }
        }
    }

    private mutating func expect(_ punctuation: Character, after previous: String) throws {
        let token = try next()
        guard token.kind == .punctuation(punctuation) else {
            throw error("expected `\(punctuation)` after `\(previous)`, found `\(token.text)`", line: token.line)
        }
    }

    private mutating func peekIsColon() throws -> Bool {
        try skipTrivia()
        return position < bytes.count && bytes[position] == UInt8(ascii: ":")
    }

    private func unsupported(_ token: Token) -> ITSSyntaxError {
        switch token.kind {
        case .directive(let name):
            return error("`\(name)` is not supported by tpudeploy's .its reader", line: token.line)
        case .word(let word) where word.hasPrefix("&"):
            return error("node references (`\(word) { … }`) are not supported by tpudeploy's .its reader", line: token.line)
        case .end:
            return error("unexpected end of file", line: token.line)
        default:
            return error("unexpected `\(token.text)`", line: token.line)
        }
    }

    private func error(_ reason: String, line: Int) -> ITSSyntaxError {
        ITSSyntaxError(fileName: fileName, line: line, reason: reason)
    }

    // MARK: Tokens

    private struct Token {
        enum Kind: Equatable {
            case word(String)
            case string(String)
            case cells(String)
            case bytes(String)
            case directive(String)
            case punctuation(Character)
            case end
        }
        var kind: Kind
        var text: String
        var line: Int
    }

    private static let wordBytes = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789,._+*#?@-&".utf8)

    private mutating func next() throws -> Token {
        try skipTrivia()
        let start = position
        let startLine = line
        guard position < bytes.count else { return Token(kind: .end, text: "end of file", line: line) }
        let byte = bytes[position]
        func text(_ from: Int, _ to: Int) -> String { String(decoding: bytes[from..<to], as: UTF8.self) }
        switch byte {
        case UInt8(ascii: "\""):
            let value = try quoted()
            return Token(kind: .string(value), text: text(start, position), line: startLine)
        case UInt8(ascii: "<"), UInt8(ascii: "["):
            let close = byte == UInt8(ascii: "<") ? UInt8(ascii: ">") : UInt8(ascii: "]")
            position += 1
            while position < bytes.count, bytes[position] != close {
                if bytes[position] == UInt8(ascii: "\n") { line += 1 }
                position += 1
            }
            guard position < bytes.count else {
                throw error("`\(Character(Unicode.Scalar(byte)))` is never closed", line: startLine)
            }
            position += 1
            let inner = text(start + 1, position - 1)
            return Token(kind: byte == UInt8(ascii: "<") ? .cells(inner) : .bytes(inner), text: text(start, position), line: startLine)
        case UInt8(ascii: "/"):
            // `/dts-v1/`, `/incbin/`, …, or the root node's name.
            var end = position + 1
            while end < bytes.count, (bytes[end] >= UInt8(ascii: "a") && bytes[end] <= UInt8(ascii: "z"))
                || (bytes[end] >= UInt8(ascii: "0") && bytes[end] <= UInt8(ascii: "9")) || bytes[end] == UInt8(ascii: "-")
            {
                end += 1
            }
            if end > position + 1, end < bytes.count, bytes[end] == UInt8(ascii: "/") {
                position = end + 1
                let name = text(start, position)
                return Token(kind: .directive(name), text: name, line: startLine)
            }
            position += 1
            return Token(kind: .punctuation("/"), text: "/", line: startLine)
        case _ where byte == UInt8(ascii: "&") && position + 1 < bytes.count && bytes[position + 1] == UInt8(ascii: "{"):
            guard let close = bytes[position...].firstIndex(of: UInt8(ascii: "}")) else {
                throw error("`&{` is never closed", line: startLine)
            }
            position = close + 1
            return Token(kind: .word("&" + text(start + 2, close)), text: text(start, position), line: startLine)
        case _ where Self.wordBytes.contains(byte) && byte != UInt8(ascii: ","):
            while position < bytes.count, Self.wordBytes.contains(bytes[position]) { position += 1 }
            let word = text(start, position)
            return Token(kind: .word(word), text: word, line: startLine)
        default:
            position += 1
            let character = Character(Unicode.Scalar(byte))
            guard "{};=,():".contains(character) else {
                throw error("unexpected character `\(character)`", line: startLine)
            }
            return Token(kind: .punctuation(character), text: String(character), line: startLine)
        }
    }

    /// A string in double quotes with dtc's escapes, the opening quote at `position`.
    private mutating func quoted() throws -> String {
        let startLine = line
        position += 1
        var value: [UInt8] = []
        while position < bytes.count {
            let byte = bytes[position]
            position += 1
            switch byte {
            case UInt8(ascii: "\""):
                return String(decoding: value, as: UTF8.self)
            case UInt8(ascii: "\n"):
                throw error("a string runs past the end of its line", line: startLine)
            case UInt8(ascii: "\\") where position < bytes.count:
                let escaped = bytes[position]
                position += 1
                switch escaped {
                case UInt8(ascii: "n"): value.append(0x0A)
                case UInt8(ascii: "t"): value.append(0x09)
                case UInt8(ascii: "r"): value.append(0x0D)
                case UInt8(ascii: "0"): value.append(0)
                case UInt8(ascii: "x"):
                    var digits = ""
                    while digits.count < 2, position < bytes.count, Character(Unicode.Scalar(bytes[position])).isHexDigit {
                        digits.append(Character(Unicode.Scalar(bytes[position])))
                        position += 1
                    }
                    value.append(UInt8(digits, radix: 16) ?? 0)
                default: value.append(escaped)
                }
            default:
                value.append(byte)
            }
        }
        throw error("a string is never closed", line: startLine)
    }

    private mutating func skipTrivia() throws {
        while position < bytes.count {
            let byte = bytes[position]
            if byte == UInt8(ascii: "\n") {
                line += 1
                position += 1
            } else if byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r") {
                position += 1
            } else if byte == UInt8(ascii: "/"), position + 1 < bytes.count, bytes[position + 1] == UInt8(ascii: "/") {
                while position < bytes.count, bytes[position] != UInt8(ascii: "\n") { position += 1 }
            } else if byte == UInt8(ascii: "/"), position + 1 < bytes.count, bytes[position + 1] == UInt8(ascii: "*") {
                let startLine = line
                position += 2
                while position + 1 < bytes.count, !(bytes[position] == UInt8(ascii: "*") && bytes[position + 1] == UInt8(ascii: "/")) {
                    if bytes[position] == UInt8(ascii: "\n") { line += 1 }
                    position += 1
                }
                guard position + 1 < bytes.count else { throw error("a `/*` comment is never closed", line: startLine) }
                position += 2
            } else {
                return
            }
        }
    }
}
