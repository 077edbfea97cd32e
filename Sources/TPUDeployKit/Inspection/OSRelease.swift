/// The distribution, from `/etc/os-release`.
public struct OSRelease: Sendable, Codable, Equatable {
    public var prettyName: String
    public var id: String?
    public var versionID: String?

    public init(text: String) throws {
        var values: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { continue }
            var value = String(parts[1])
            if value.count >= 2, value.first == "\"" || value.first == "'", value.last == value.first {
                value = String(value.dropFirst().dropLast())
            }
            values[String(parts[0])] = value
        }
        guard let name = values["PRETTY_NAME"] ?? values["NAME"] else {
            throw BoardOutputError(source: "/etc/os-release", problem: "no PRETTY_NAME or NAME", output: text)
        }
        prettyName = name
        id = values["ID"]
        versionID = values["VERSION_ID"]
    }
}
