import Foundation

/// The wire schema's building blocks. Every message proc sends or stores is declared once, with these,
/// in `Messages.swift`; `Generator` turns the declarations into the Swift types, their fast reader and
/// writer, their Codable conformance (`Sources/ProcWire/Generated/`) and the reference of the format
/// (`docs/wire.md`). `swift run proc-wire-gen` writes them; a test fails when they are out of date.
public struct WireSchema: Sendable {
    public var groups: [Group]
    public var commands: [Command]
    public var bounds: [BoundDecl]

    public init(_ groups: [Group], commands: [Command], bounds: [BoundDecl]) {
        self.groups = groups
        self.commands = commands
        self.bounds = bounds
    }

    /// Every message and enumeration, by name.
    var types: [String: TypeDecl] {
        var all: [String: TypeDecl] = [:]
        for group in groups { for type in group.types { all[type.name] = type } }
        return all
    }
}

/// Types that go in one generated file (and one section of the reference).
public struct Group: Sendable {
    public var name: String
    public var doc: String
    public var types: [TypeDecl]

    public init(_ name: String, doc: String, _ types: [TypeDecl]) {
        self.name = name
        self.doc = doc
        self.types = types
    }
}

public enum TypeDecl: Sendable {
    case message(Message)
    case enumeration(Enumeration)

    var name: String {
        switch self {
        case .message(let message): message.name
        case .enumeration(let enumeration): enumeration.name
        }
    }
}

/// A JSON object and the Swift struct that holds it.
public struct Message: Sendable {
    public var name: String
    public var doc: String
    public var fields: [Field]
    /// Conformances beyond Sendable and Codable: "Equatable", "Hashable", "Error".
    public var conformances: [String]
    /// A bare JSON array is read as an object with only this field (an argv for a job).
    public var bareArray: String?

    public init(_ name: String, _ doc: String, conforms conformances: [String] = ["Equatable"],
                bareArray: String? = nil, _ fields: [Field]) {
        self.name = name
        self.doc = doc
        self.fields = fields
        self.conformances = conformances
        self.bareArray = bareArray
    }
}

/// One member of a message.
public struct Field: Sendable {
    public var name: String
    public var key: String
    public var type: WireType
    public var optional: Bool
    public var doc: String
    /// A `Bound` (Swift expression, e.g. "Bounds.slots") the value must lie in; checked by every reader.
    public var bound: String?
    /// Other keys read as this one (older spellings).
    public var aliases: [String]
    /// The Swift type, when it is a type alias of the wire type ("JobID" for a string).
    public var swiftType: String?
    /// The initializer's default for the field (a Swift expression). Readers still require the key,
    /// unless `absentIsDefault`.
    public var defaultValue: String?
    /// The key may be absent on the wire, and then the field is `defaultValue`; writers leave it out when
    /// it is the default (`defaulted`).
    public var absentIsDefault = false

    public static func required(
        _ name: String, key: String? = nil, _ type: WireType, swift: String? = nil, bound: String? = nil,
        aliases: [String] = [], default defaultValue: String? = nil, _ doc: String
    ) -> Field {
        Field(name: name, key: key ?? snakeCase(name), type: type, optional: false, doc: doc, bound: bound,
              aliases: aliases, swiftType: swift, defaultValue: defaultValue)
    }

    /// A field that is never nil in Swift, absent on the wire when it is `defaultValue` (an argv that a
    /// function job does not have: `[]`).
    public static func defaulted(
        _ name: String, key: String? = nil, _ type: WireType, swift: String? = nil, aliases: [String] = [],
        default defaultValue: String, _ doc: String
    ) -> Field {
        var field = Field(name: name, key: key ?? snakeCase(name), type: type, optional: false, doc: doc, bound: nil,
                          aliases: aliases, swiftType: swift, defaultValue: defaultValue)
        field.absentIsDefault = true
        return field
    }

    public static func optional(
        _ name: String, key: String? = nil, _ type: WireType, swift: String? = nil, bound: String? = nil,
        aliases: [String] = [], _ doc: String
    ) -> Field {
        Field(name: name, key: key ?? snakeCase(name), type: type, optional: true, doc: doc, bound: bound,
              aliases: aliases, swiftType: swift, defaultValue: nil)
    }
}

/// The JSON shape of a field.
public indirect enum WireType: Sendable {
    case string, bool, int, int32, uint64, double
    /// Any JSON value (`JSONValue`).
    case json
    case message(String)
    /// A string that must be one of an enumeration's raw values.
    case enumeration(String)
    case array(WireType)
    /// An object of string keys.
    case map(WireType)
}

/// A command of the protocol: the frame that names it, who sends it, and its body.
public struct Command: Sendable {
    public enum Side: String, Sendable { case client, agent }
    /// "SUBMIT", "HELLO".
    public var name: String
    /// The Swift case ("submit", "returned").
    public var swiftName: String
    public var side: Side
    /// "client → coordinator", "both ways".
    public var direction: String
    /// The body's message, or nil for an empty body (or a text, as `text` says).
    public var body: String?
    /// The reply's message (client requests).
    public var reply: String?
    public var doc: String

    public init(_ side: Side, _ name: String, swift: String? = nil, _ direction: String, body: String?,
                reply: String? = nil, _ doc: String) {
        self.side = side
        self.name = name
        self.swiftName = swift ?? name.lowercased()
        self.direction = direction
        self.body = body
        self.reply = reply
        self.doc = doc
    }
}

/// A range a number must lie in (`Bounds.NAME`): declared here with the messages whose fields use it.
public struct BoundDecl: Sendable {
    public var name: String
    /// "Int" or "Double".
    public var type: String
    /// The Swift range literal: "1...10_000".
    public var range: String
    public var unit: String
    public var doc: String

    public init(_ name: String, _ type: String, _ range: String, unit: String = "", _ doc: String) {
        self.name = name
        self.type = type
        self.range = range
        self.unit = unit
        self.doc = doc
    }

    /// "1 to 10000 (seconds)" for the reference.
    var rangeText: String {
        let parts = range.replacingOccurrences(of: "_", with: "").components(separatedBy: "...")
        let upper = parts.count == 2 ? parts[1] : "?"
        let shown = upper == "Int.max" || upper == "Int64.max" ? "\(parts[0]) or more" : "\(parts[0]) to \(upper)"
        return unit.isEmpty ? shown : "\(shown) \(unit)"
    }
}

/// A string with a fixed set of values, and the Swift enum that holds it.
public struct Enumeration: Sendable {
    public var name: String
    public var doc: String
    public var cases: [(name: String, raw: String, doc: String)]

    public init(_ name: String, _ doc: String, _ cases: [(String, String, String)]) {
        self.name = name
        self.doc = doc
        self.cases = cases.map { (name: $0.0, raw: $0.1, doc: $0.2) }
    }
}

/// "exitCode" → "exit_code", "agentID" → "agent_id".
func snakeCase(_ name: String) -> String {
    var result = ""
    var previousWasUpper = false
    for (index, character) in name.enumerated() {
        if character.isUppercase {
            if index > 0 && !previousWasUpper { result += "_" }
            result += character.lowercased()
            previousWasUpper = true
        } else {
            result.append(character)
            previousWasUpper = false
        }
    }
    return result
}
