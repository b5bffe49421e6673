import Foundation

/// JSON arrays of channels (`jsonb`) read as `channels::text`.
enum NotificationChannelList {
    static func decode(_ json: String) throws -> [NotificationChannel] {
        let names = try JSONDecoder().decode([String].self, from: Data(json.utf8))
        return try names.map { try NotificationChannel(stored: $0) }
    }

    static func encode(_ channels: [NotificationChannel]) -> String {
        "[" + channels.map { "\"\($0.rawValue)\"" }.joined(separator: ", ") + "]"
    }
}
