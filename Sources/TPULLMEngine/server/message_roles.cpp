#include "message_roles.h"

#include "chat_request.h"

namespace tpu::server {

std::vector<ChatMessage> fold_messages(const std::vector<ChatMessage> &messages) {
    std::string system;
    std::vector<ChatMessage> turns;
    bool has_user = false;
    for (const ChatMessage &message : messages) {
        if (message.role == "system") {
            if (message.content.empty()) continue;
            system += (system.empty() ? "" : "\n\n") + message.content;
            continue;
        }
        has_user = has_user || message.role == "user";
        if (turns.empty() && message.role == "assistant") turns.push_back({"user", ""});
        if (!turns.empty() && turns.back().role == message.role) {
            ChatMessage &turn = turns.back();
            if (!turn.content.empty() && !message.content.empty()) turn.content += "\n\n";
            turn.content += message.content;
        } else {
            turns.push_back(message);
        }
    }
    if (!has_user) throw BadRequest("'messages' must contain at least one \"user\" message", "messages");
    std::vector<ChatMessage> folded;
    if (!system.empty()) folded.push_back({"system", system});
    folded.insert(folded.end(), turns.begin(), turns.end());
    return folded;
}

}  // namespace tpu::server
