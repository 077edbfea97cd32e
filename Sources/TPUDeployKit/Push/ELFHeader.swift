/// What an executable's ELF header says about the machine it runs on: `e_ident`'s class and byte order and
/// `e_machine` (the System V ABI's ELF header; Linux `include/uapi/linux/elf.h` and `elf-em.h`). Pure.
public struct ELFHeader: Sendable, Equatable {
    public enum Class: UInt8, Sendable { case elf32 = 1, elf64 = 2 }

    public var elfClass: Class
    public var littleEndian: Bool
    /// `e_machine`: 183 EM_AARCH64, 62 EM_X86_64, 40 EM_ARM, 3 EM_386, 243 EM_RISCV.
    public var machine: UInt16

    /// Why bytes are not an ELF header.
    public enum ParseError: Error, Equatable, Sendable {
        case tooShort(bytes: Int)
        case noMagic
        case badIdent
    }

    /// Reads the first bytes of a file (at least 20: e_ident and e_machine).
    public init(_ bytes: [UInt8]) throws {
        guard bytes.count >= 20 else { throw ParseError.tooShort(bytes: bytes.count) }
        guard bytes[0] == 0x7F, bytes[1] == 0x45, bytes[2] == 0x4C, bytes[3] == 0x46 else { throw ParseError.noMagic }
        guard let elfClass = Class(rawValue: bytes[4]), bytes[5] == 1 || bytes[5] == 2 else { throw ParseError.badIdent }
        self.elfClass = elfClass
        littleEndian = bytes[5] == 1
        machine = littleEndian ? UInt16(bytes[18]) | UInt16(bytes[19]) << 8 : UInt16(bytes[18]) << 8 | UInt16(bytes[19])
    }

    public init(elfClass: Class, littleEndian: Bool = true, machine: UInt16) {
        self.elfClass = elfClass
        self.littleEndian = littleEndian
        self.machine = machine
    }

    /// The header a native executable has on a Linux machine whose `uname -m` is `arch`; nil when not known.
    public static func expected(forUnameMachine arch: String) -> ELFHeader? {
        switch arch {
        case "aarch64", "arm64": return ELFHeader(elfClass: .elf64, machine: 183)
        case "x86_64", "amd64": return ELFHeader(elfClass: .elf64, machine: 62)
        case "armv7l", "armv6l", "armv8l": return ELFHeader(elfClass: .elf32, machine: 40)
        case "i386", "i486", "i586", "i686": return ELFHeader(elfClass: .elf32, machine: 3)
        case "riscv64": return ELFHeader(elfClass: .elf64, machine: 243)
        default: return nil
        }
    }

    /// Whether this executable runs on a machine whose native header is `board`.
    public func runs(on board: ELFHeader) -> Bool {
        elfClass == board.elfClass && littleEndian == board.littleEndian && machine == board.machine
    }

    /// How people name the machine: "aarch64 (ELF64)", "x86-64 (ELF64)", "machine 99 (ELF32)".
    public var machineName: String {
        let names: [UInt16: String] = [183: "aarch64", 62: "x86-64", 40: "32-bit ARM", 3: "i386", 243: "RISC-V"]
        let name = names[machine] ?? "machine \(machine)"
        return "\(name) (\(elfClass == .elf64 ? "ELF64" : "ELF32")\(littleEndian ? "" : ", big-endian"))"
    }
}

/// The check made on the engine before it is sent: it must be an ELF executable for the board's `uname -m`.
public enum EngineArchitectureCheck {
    /// Throws `PushError.engineNotExecutable` / `engineWrongArchitecture` for an engine that cannot run on the
    /// board; returns a warning when the board's architecture is one this check does not know.
    public static func check(engineHeader bytes: [UInt8], path: String, boardArch: String) throws -> String? {
        let header: ELFHeader
        do { header = try ELFHeader(bytes) } catch {
            let what: String
            switch error as? ELFHeader.ParseError {
            case .tooShort(let count)?: what = "it is \(count) bytes long, too short for an executable"
            case .badIdent?: what = "its ELF header is damaged"
            default: what = "it does not start with an ELF header (a script, a text file or an archive?)"
            }
            throw PushError.engineNotExecutable(path: path, reason: what)
        }
        guard let board = ELFHeader.expected(forUnameMachine: boardArch) else {
            return "the board's architecture \(boardArch) is not one tpudeploy knows: the engine \(path) (\(header.machineName)) was not checked against it"
        }
        guard header.runs(on: board) else {
            throw PushError.engineWrongArchitecture(path: path, engineMachine: header.machineName, boardArch: boardArch,
                                                    boardMachine: board.machineName)
        }
        return nil
    }
}

extension ELFHeader.ParseError: CodedError {
    public var errorCode: String { "engine_not_executable" }
}
