/*
 * The web chat page served at GET /: one self-contained HTML document (no external resources) that streams
 * answers from /v1/chat/completions. `/?prompt=TEXT` sends TEXT as soon as the model is ready (links, tests).
 */
#pragma once

namespace tpu::server {

extern const char *const chat_page_html;

}  // namespace tpu::server
