/*
 * Messages as OpenAI clients send them, folded into the shape every prompt format here can express:
 * [system] (user assistant)* user. What cannot be expressed is refused naming the message.
 */
#pragma once

#include <vector>

#include "tpu_llm_engine.h"

namespace tpu::server {

/* `messages` have roles system, user or assistant (developer already mapped to system). Throws BadRequest.
 *   - every system message, wherever it stands, joins the one system prompt (in order, blank-line separated):
 *     the formats have a single system slot at the start;
 *   - consecutive messages of one role are joined with a blank line, as one turn;
 *   - an assistant message with no user message before it answers an empty user turn;
 *   - a conversation ending with an assistant message is a prefill, kept as the last turn: the prompt ends with
 *     that text after the assistant's cue and the answer continues it (as llama-server does; text/prompt_format.h). */
std::vector<ChatMessage> fold_messages(const std::vector<ChatMessage> &messages);

}  // namespace tpu::server
