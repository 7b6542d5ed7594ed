"""Everything the bot says, in English and Korean. Handlers never hold text.

Two languages fit in two dictionaries. Counted words carry their plural forms in the
template (``{likes} {likes:plural:like|likes}``): English has one and other, Korean
does not inflect. A third language would move these into gettext catalogues (Babel's
``ngettext``) or Fluent files, whose plural rules cover every language.
"""

from __future__ import annotations

import string
from html import escape

LANGUAGES = ("en", "ko")

EN: dict[str, str] = {
    "start": (
        "Hi {name}! I turn photos into music.\n\n"
        "Send me a photo (as a photo or as an image file). I describe it, write a short music "
        "brief and compose three tracks. You pick one, and I post it to the channel {channel}, "
        "where reactions are likes.\n\n"
        "Commands: /profile your posts and likes, /top this week's most liked, "
        "/delete remove a post, /anonymous show or hide your name, /lang 한국어, "
        "/forget delete your data, /help this message."
    ),
    "command_start": "What IMMU does",
    "command_help": "How to use IMMU",
    "command_profile": "Your posts and likes",
    "command_top": "This week's most liked",
    "command_delete": "Remove one of your posts",
    "command_anonymous": "Show or hide your name on posts",
    "command_describe": "Plain-language descriptions on posts",
    "command_lang": "Language: English or 한국어",
    "command_forget": "Delete all your data",
    "command_id": "Your Telegram user id",
    "command_app": "Open the IMMU app",
    "command_stats": "Queue and store figures (operators)",
    "command_ban": "Ban a person: /ban ID [--purge] (operators)",
    "command_unban": "Lift a ban: /unban ID (operators)",
    "received": "Got it… checking your photo.",
    "queued": "Got your photo. Queued, position {position}.",
    "stage_caption": "Looking at your photo…",
    "stage_brief": "Writing the music brief…",
    "stage_music": "Composing: step {step} of {total}",
    "stage_music_start": "Composing…",
    "stage_audio": "Turning spectrograms into sound…",
    "stage_encode": "Encoding the tracks…",
    "delivered": "Done. Your three tracks are below.",
    "result": (
        "<b>{description}</b>\nMood: {mood}\n\n"
        "Track 1: {genre1}\nTrack 2: {genre2}\nTrack 3: {genre3}\n\n"
        "Choose one to post it to the channel."
    ),
    "track_caption": "Track {n} of 3: {genre}",
    "button_pick": "Post track {n}: {genre}",
    "button_regenerate": "New tracks from this photo",
    "button_cancel": "Cancel",
    "button_view_post": "See your post in the channel",
    "button_forget_yes": "Yes, delete everything",
    "button_delete_post": "Delete: {genre}, {likes} {likes:plural:like|likes}, {date}",
    "button_delete_held": "Delete: {genre}, not public, {date}",
    "posted": "Posted to the channel.",
    "already_posted": "This photo's track is already in the channel.",
    "post_pending": "The channel cannot be reached right now. Your choice is saved and I will post it as soon as I can.",
    "post_retry_done": "Your track is now in the channel.",
    "post_failed": "I could not post your track to the channel. Tap the track again to try once more.",
    "post_unknown": "Telegram did not confirm your post, so it may or may not be in the channel. Look there: if it is, forward it to me so I can manage it (delete, likes, reports); if it is not, tap the track again and I will post it once.",
    "post_unknown_popup": "Telegram did not confirm the post. Please read my message in the chat.",
    "delete_unconfirmed": "Telegram never confirmed this post, so I do not know its place in the channel. If it is there, forward it to me first, then delete it; if it is not, there is nothing to delete.",
    "forward_settled": "Thanks: that is your post, and I now know it. Delete, likes and reports work on it.",
    "forward_not_ours": "That is not a post from the feed channel.",
    "forward_not_yours": "That post is not one of yours that I am unsure about, so nothing changed.",
    "forward_nothing_to_settle": "I already know that post; nothing to do.",
    "remix_taken_down_still_public": "Your remix was taken down from IMMU: the post it was made from is no longer public, and the remix showed its photo. The channel would not remove your remix's post, so the operators have been asked to.",
    "remix_taken_down_unconfirmed": "Your remix was taken down from IMMU: the post it was made from is no longer public. Telegram never confirmed your remix's post; if it is in the channel, the operators have been asked to remove it.",
    "forgotten_remixes_left": "{count} {count:plural:remix|remixes} of your posts by other people could not be removed from the channel (or was never confirmed there). I have asked the operators to remove {count:plural:it|them}.",
    "operators_remixes_left": "{count} {count:plural:remix|remixes} of a removed post may still be in the channel: please remove {count:plural:it|them} by hand.\n{links}",
    "remix_taken_down": "Your remix was taken down: the post it was made from is no longer public, and the remix showed its photo.",
    "delivery_failed": "Sorry, I could not send you the tracks for this photo. Please send it again.",
    "delete_edited": "The channel would not delete that post, so I removed your track, photo and name from it. The post stays as an empty placeholder.",
    "delete_failed": "The channel refused to delete or edit that post. It is still public; please ask the channel's operators to remove it.",
    "private_only": "I work in a private chat: open @{bot} and send me a photo there.",
    "not_yours": "Only the person who sent this photo can do that.",
    "cancelled": "Cancelled. Nothing will be posted.",
    "cannot_cancel": "It is already being composed; it cannot be cancelled now.",
    "expired": "This choice is no longer available.",
    "busy": "I am very busy right now. Please try again in a minute.",
    "limit_in_flight": "You already have {n} {n:plural:photo|photos} being composed. Please wait for them to finish.",
    "limit_daily": "You have reached today's limit of {n} {n:plural:photo|photos}. Please come back tomorrow.",
    "too_large": "That file is too large ({size_mb} MB). The limit is {limit_mb} MB.",
    "not_image": "That file is not an image I can read. Please send a JPEG, PNG, WebP or HEIC photo.",
    "empty": "That file is empty. Please send a photo.",
    "corrupt": "That image is damaged or incomplete. Please send it again.",
    "too_many_pixels": "That image has too many pixels for me. Please send a normal photo.",
    "unsupported": "I only understand photos. Please send a photo, or /help.",
    "download_failed": "I could not download your photo. Please send it again.",
    "failed": "Sorry, I could not compose music for this photo. Please try again later.",
    "storage_failed": "Sorry, the server could not save your tracks. Please try again later.",
    "profile": "<b>Your posts</b> ({count}), {likes} {likes:plural:like|likes} in all:\n{lines}",
    "profile_line": '• <a href="{url}">{genre}</a>, {likes} {likes:plural:like|likes}',
    "profile_empty": "You have not posted anything yet. Send me a photo!",
    "top": "<b>Most liked this week</b>\n{lines}",
    "top_line": '{rank}. <a href="{url}">{genre}</a>, {likes} {likes:plural:like|likes}',
    "top_empty": "No likes yet this week.",
    "delete_choose": "Which post should I delete?",
    "delete_none": "You have no posts to delete.",
    "deleted": "Deleted from the channel.",
    "anonymous_on": "Your posts are now anonymous.",
    "anonymous_off": "Your first name is now shown on your posts.",
    "describe_on": "Posts you make now include a plain description of the photo and the music.",
    "describe_off": "Posts you make no longer include the long description.",
    "lang_set": "Language: English.",
    "forget_confirm": "This deletes your jobs, tracks and profile, removes your posts from the channel, and takes down other people's remixes of them (they show your photo). Telegram lets a bot delete channel posts only for 48 hours: older ones are blanked instead (a grey picture, no name, no buttons). Out of my reach: copies people forwarded or shared into other chats, inline shares included (a track sent by typing my name in a chat), and the server's backups taken before now (they age out). Continue?",
    "forgotten": "Done. I have deleted your data.",
    "forgotten_unconfirmed": "Telegram never confirmed {count} of your {count:plural:posts|posts}: they may still be in the channel, and I cannot find them. If you see one, ask the channel's operators to remove it; I have told them.",
    "operators_unconfirmed_forgotten": "A person ({user}) used /forget with {count} {count:plural:post|posts} Telegram never confirmed: they may be in the channel. Please look for them and remove them.",
    "stats": "<b>IMMU</b>\n{lines}",
    "admin_only": "That command is for the bot's operators.",
    "post_caption": "<b>{description}</b>\n{genre} · {mood}",
    "post_caption_neutral": "<b>Music made from a photo with IMMU</b>",
    "post_signature": '♪ <a href="{remix}">IMMU #{post}</a>',
    "post_by": "by {name}",
    "post_removed": "Removed by its author.",
    "post_description": "Photo: {photo}\nMusic: {music}",
    "button_remix": "Remix this track",
    "button_make_yours": "Make your own",
    "button_open_app": "Open in app",
    "button_app": "Open IMMU",
    "menu_app": "IMMU",  # Telegram shows one default menu button to everyone: the name
    "app_open": "The feed, your tracks and your settings, in the app:",
    "app_off": "The app is not set up on this bot.",
    "inline_empty": "Make music from a photo",
    "remix_gone": "That post is no longer in the channel, so it cannot be remixed.",
    "digest": "<b>This week's most liked tracks on IMMU</b>\n{lines}",
    "unsafe_photo": "Sorry, I cannot use this photo: the channel is public, and it looks unsuitable for everyone. Please send another photo.",
    "screening_failed": "Sorry, I could not check this photo right now, so I did not keep it. Please try again later.",
    "banned": "Sorry, the operators have paused your access to IMMU, so I cannot take new photos from you.",
    "not_invited": "IMMU is open to a few invited people for now, so I cannot make music from your photos yet. If an operator invited you, send them your id: /id",
    "your_id": "Your Telegram user id: <code>{user_id}</code>",
    "banned_queued": "Cancelled: the operators have paused your access to IMMU.",
    "review_waiting": "Thanks! Your track waits for an operator's review. I will tell you when it is in the channel.",
    "review_pending": "Your track is still waiting for an operator's review.",
    "review_declined": "An operator decided not to post your track to the channel.",
    "review_approved": "An operator approved your track: it is in the channel now.",
    "post_declined": "This track will not be posted to the channel.",
    "post_hidden": "Your post was taken down after readers reported it; an operator will look at it.",
    "post_restored": "An operator looked at your reported post: it is back in the channel.",
    "post_removed_for_good": "An operator removed your reported post from the channel for good.",
    "button_approve": "Approve",
    "button_reject": "Reject",
    "button_restore": "Restore",
    "button_remove": "Remove for good",
    "button_report": "Report",
    "review_note": "Review: post {post} by user {user}",
    "reported_note": "Reported {count} {count:plural:time|times}: post {post} by user {user}",
    "decided": "Done: {decision}.",
    "decision_gone": "This post no longer exists (its author deleted it).",
    "decision_taken": "Already decided: the post is {status}.",
    "admins_only": "Admins only.",
    "reported": "Thanks, reported. The operators will look at it.",
    "already_reported": "You have reported this post already.",
    "report_gone": "This post is no longer in the channel.",
    "report_kept": "Thanks, your report is recorded.",
    "report_banned": "The operators have paused your access to IMMU, so your report was not recorded.",
    "remix_not_public": "The post this remix was made from is not in the channel now, so the remix cannot be posted.",
    "decision_owner_banned": "Its author (user {user}) is banned: the post stays out of the channel.",
    "post_back_unreviewed": "Your reported post is back in the channel: no operator decided to keep it down.",
    "operators_report_expired": "Post {post} was taken down after reports and nobody decided within {hours} hours: it is back in the channel.",
    "stats_reports": "posts with reports: {posts}, most reported: post {post} with {count}",
    "stats_reports_none": "posts with reports: 0",
    "ban_usage": "Usage: /ban USER_ID [--purge], /unban USER_ID",
    "ban_done": "User {user} is banned. Queued jobs ended: {jobs}. Posts removed: {posts}.",
    "purge_still_public": "The channel refused to delete or blank {count} {count:plural:post|posts}: they are still public; /ban again to retry.",
    "purge_unconfirmed": "{count} {count:plural:post was|posts were} never confirmed by Telegram: they may be in the channel and were not removed. Look for them there.",
    "ban_already": "User {user} was already banned. Posts removed: {posts}.",
    "unban_done": "User {user} may send photos again.",
    "unban_none": "User {user} was not banned.",
}

KO: dict[str, str] = {
    "start": (
        "안녕하세요 {name}님! 사진을 음악으로 바꿔 드려요.\n\n"
        "사진을 보내 주세요 (사진 또는 이미지 파일). 사진을 설명하고, 음악 설명을 쓰고, "
        "세 곡을 작곡합니다. 한 곡을 고르면 채널 {channel}에 올리고, 반응이 좋아요가 됩니다.\n\n"
        "명령어: /profile 내 게시물과 좋아요, /top 이번 주 인기곡, /delete 게시물 삭제, "
        "/anonymous 이름 표시 설정, /lang English, /forget 내 데이터 삭제, /help 도움말."
    ),
    "command_start": "IMMU 소개",
    "command_help": "IMMU 사용법",
    "command_profile": "내 게시물과 좋아요",
    "command_top": "이번 주 인기 곡",
    "command_delete": "내 게시물 삭제",
    "command_anonymous": "게시물에 이름 표시/숨기기",
    "command_describe": "게시물에 쉬운 설명 켜기/끄기",
    "command_lang": "언어: English 또는 한국어",
    "command_forget": "내 데이터 모두 삭제",
    "command_id": "내 텔레그램 사용자 ID",
    "command_app": "IMMU 앱 열기",
    "command_stats": "대기열과 저장소 현황(운영자)",
    "command_ban": "사용자 차단: /ban ID [--purge] (운영자)",
    "command_unban": "차단 해제: /unban ID (운영자)",
    "received": "받았어요… 사진을 확인하는 중이에요.",
    "queued": "사진을 받았어요. 대기 순서: {position}번.",
    "stage_caption": "사진을 살펴보는 중…",
    "stage_brief": "음악 설명을 쓰는 중…",
    "stage_music": "작곡 중: {total}단계 중 {step}단계",
    "stage_music_start": "작곡 중…",
    "stage_audio": "스펙트로그램을 소리로 바꾸는 중…",
    "stage_encode": "트랙을 인코딩하는 중…",
    "delivered": "완성! 아래에 세 곡이 있어요.",
    "result": (
        "<b>{description}</b>\n분위기: {mood}\n\n"
        "1번: {genre1}\n2번: {genre2}\n3번: {genre3}\n\n"
        "채널에 올릴 곡을 골라 주세요."
    ),
    "track_caption": "3곡 중 {n}번: {genre}",
    "button_pick": "{n}번 올리기: {genre}",
    "button_regenerate": "이 사진으로 새로 만들기",
    "button_cancel": "취소",
    "button_view_post": "채널에서 내 게시물 보기",
    "button_forget_yes": "네, 모두 삭제합니다",
    "button_delete_post": "삭제: {genre}, 좋아요 {likes}, {date}",
    "button_delete_held": "삭제: {genre}, 비공개, {date}",
    "posted": "채널에 올렸어요.",
    "already_posted": "이 사진의 곡은 이미 채널에 있어요.",
    "post_pending": "지금은 채널에 연결할 수 없어요. 선택은 저장되었고, 가능해지면 바로 올릴게요.",
    "post_retry_done": "곡이 채널에 올라갔어요.",
    "post_failed": "곡을 채널에 올리지 못했어요. 곡을 다시 눌러 한 번 더 시도해 주세요.",
    "post_unknown": "텔레그램이 게시를 확인해 주지 않아서 채널에 올라갔는지 알 수 없어요. 채널을 확인해 주세요. 있으면 그 게시물을 저에게 전달해 주시면 관리(삭제, 좋아요, 신고)할 수 있어요. 없으면 곡을 다시 누르면 한 번만 올릴게요.",
    "post_unknown_popup": "텔레그램이 게시를 확인해 주지 않았어요. 채팅의 안내를 읽어 주세요.",
    "delete_unconfirmed": "텔레그램이 이 게시물을 확인해 주지 않아서 채널의 어디에 있는지 몰라요. 채널에 있으면 먼저 저에게 전달한 뒤 삭제해 주세요. 없으면 삭제할 것이 없어요.",
    "forward_settled": "고마워요. 회원님의 게시물이 맞아요. 이제 삭제, 좋아요, 신고가 이 게시물에 적용돼요.",
    "forward_not_ours": "피드 채널의 게시물이 아니에요.",
    "forward_not_yours": "확인이 필요한 회원님의 게시물이 아니라서 바뀐 것이 없어요.",
    "forward_nothing_to_settle": "이미 알고 있는 게시물이에요. 할 일이 없어요.",
    "remix_taken_down_still_public": "리믹스를 IMMU에서 내렸어요. 원본 게시물이 더 이상 공개되지 않고, 리믹스에 그 사진이 보였기 때문이에요. 채널이 리믹스 게시물을 삭제하지 않아서 운영자에게 삭제를 요청했어요.",
    "remix_taken_down_unconfirmed": "리믹스를 IMMU에서 내렸어요. 원본 게시물이 더 이상 공개되지 않기 때문이에요. 텔레그램이 리믹스 게시를 확인해 주지 않았는데, 채널에 있다면 운영자에게 삭제를 요청했어요.",
    "forgotten_remixes_left": "다른 사람이 만든 회원님 게시물의 리믹스 {count}개를 채널에서 삭제하지 못했어요(또는 게시가 확인되지 않았어요). 운영자에게 삭제를 요청했어요.",
    "operators_remixes_left": "삭제된 게시물의 리믹스 {count}개가 아직 채널에 있을 수 있어요. 직접 삭제해 주세요.\n{links}",
    "remix_taken_down": "리믹스를 내렸어요. 원본 게시물이 더 이상 공개되지 않고, 리믹스에 그 사진이 보였기 때문이에요.",
    "delivery_failed": "죄송해요, 이 사진의 곡을 보내지 못했어요. 사진을 다시 보내 주세요.",
    "delete_edited": "채널이 게시물 삭제를 허용하지 않아서 곡, 사진, 이름을 지웠어요. 게시물은 빈 자리로 남아요.",
    "delete_failed": "채널이 게시물 삭제도 수정도 거부했어요. 아직 공개되어 있으니 채널 운영자에게 삭제를 요청해 주세요.",
    "private_only": "저는 개인 채팅에서 일해요. @{bot} 을 열어 사진을 보내 주세요.",
    "not_yours": "사진을 보낸 사람만 할 수 있어요.",
    "cancelled": "취소했어요. 아무것도 올리지 않습니다.",
    "cannot_cancel": "이미 작곡 중이라 지금은 취소할 수 없어요.",
    "expired": "더 이상 선택할 수 없어요.",
    "busy": "지금 너무 바빠요. 1분 후에 다시 시도해 주세요.",
    "limit_in_flight": "이미 {n}장의 사진을 작곡 중이에요. 끝날 때까지 기다려 주세요.",
    "limit_daily": "오늘 보낼 수 있는 {n}장을 모두 보냈어요. 내일 다시 와 주세요.",
    "too_large": "파일이 너무 커요 ({size_mb} MB). 최대 {limit_mb} MB까지 가능해요.",
    "not_image": "읽을 수 있는 이미지가 아니에요. JPEG, PNG, WebP, HEIC 사진을 보내 주세요.",
    "empty": "빈 파일이에요. 사진을 보내 주세요.",
    "corrupt": "이미지가 손상되었거나 불완전해요. 다시 보내 주세요.",
    "too_many_pixels": "이미지의 픽셀 수가 너무 많아요. 일반 사진을 보내 주세요.",
    "unsupported": "사진만 이해할 수 있어요. 사진을 보내거나 /help 를 눌러 주세요.",
    "download_failed": "사진을 내려받지 못했어요. 다시 보내 주세요.",
    "failed": "죄송해요, 이 사진으로 음악을 만들지 못했어요. 나중에 다시 시도해 주세요.",
    "storage_failed": "죄송해요, 서버가 트랙을 저장하지 못했어요. 나중에 다시 시도해 주세요.",
    "profile": "<b>내 게시물</b> ({count}개), 좋아요 총 {likes}개:\n{lines}",
    "profile_line": '• <a href="{url}">{genre}</a>, 좋아요 {likes}',
    "profile_empty": "아직 올린 게시물이 없어요. 사진을 보내 주세요!",
    "top": "<b>이번 주 인기곡</b>\n{lines}",
    "top_line": '{rank}. <a href="{url}">{genre}</a>, 좋아요 {likes}',
    "top_empty": "이번 주에는 아직 좋아요가 없어요.",
    "delete_choose": "어떤 게시물을 삭제할까요?",
    "delete_none": "삭제할 게시물이 없어요.",
    "deleted": "채널에서 삭제했어요.",
    "anonymous_on": "이제 게시물이 익명으로 올라가요.",
    "anonymous_off": "이제 게시물에 이름이 표시돼요.",
    "describe_on": "이제 게시물에 사진과 음악에 대한 설명이 포함돼요.",
    "describe_off": "이제 게시물에 긴 설명이 포함되지 않아요.",
    "lang_set": "언어: 한국어.",
    "forget_confirm": "작업, 트랙, 프로필이 삭제되고, 채널의 게시물이 삭제되며, 회원님 게시물로 만든 다른 사람의 리믹스도 내려갑니다(회원님의 사진이 보이기 때문이에요). 텔레그램은 봇이 채널 게시물을 48시간 안에만 삭제하도록 허용해요. 그보다 오래된 게시물은 대신 비워집니다(회색 그림, 이름과 버튼 없음). 제가 닿을 수 없는 것: 다른 사람이 다른 채팅으로 전달하거나 공유한 사본(채팅에서 제 이름을 입력해 인라인으로 보낸 곡 포함), 그리고 지금 이전에 만든 서버 백업(시간이 지나면 사라져요). 계속할까요?",
    "forgotten": "완료. 데이터를 삭제했어요.",
    "forgotten_unconfirmed": "텔레그램이 확인해 주지 않은 게시물 {count}개가 아직 채널에 있을 수 있는데, 저는 찾을 수 없어요. 보이면 채널 운영자에게 삭제를 요청해 주세요. 운영자에게도 알렸어요.",
    "operators_unconfirmed_forgotten": "사용자({user})가 텔레그램이 확인하지 않은 게시물 {count}개를 남긴 채 /forget을 했어요. 채널에 있을 수 있으니 찾아서 삭제해 주세요.",
    "stats": "<b>IMMU</b>\n{lines}",
    "admin_only": "운영자 전용 명령어예요.",
    "post_caption": "<b>{description}</b>\n{genre} · {mood}",
    "post_caption_neutral": "<b>IMMU가 사진으로 만든 음악</b>",
    "post_signature": '♪ <a href="{remix}">IMMU #{post}</a>',
    "post_by": "만든 사람: {name}",
    "post_removed": "만든 사람이 삭제했어요.",
    "post_description": "사진: {photo}\n음악: {music}",
    "button_remix": "이 곡 리믹스",
    "button_make_yours": "나도 만들기",
    "button_open_app": "앱에서 열기",
    "button_app": "IMMU 열기",
    "menu_app": "IMMU",
    "app_open": "피드, 내 곡, 설정을 앱에서 볼 수 있어요:",
    "app_off": "이 봇에는 앱이 설정되어 있지 않아요.",
    "inline_empty": "사진으로 음악 만들기",
    "remix_gone": "이 게시물은 채널에 없어서 리믹스할 수 없어요.",
    "digest": "<b>이번 주 IMMU 인기곡</b>\n{lines}",
    "unsafe_photo": "죄송해요, 이 사진은 사용할 수 없어요. 채널은 공개되어 있는데 모두에게 적합하지 않은 사진으로 보여요. 다른 사진을 보내 주세요.",
    "screening_failed": "죄송해요, 지금은 이 사진을 확인할 수 없어서 보관하지 않았어요. 나중에 다시 시도해 주세요.",
    "banned": "죄송해요, 운영자가 IMMU 이용을 중지해서 새 사진을 받을 수 없어요.",
    "not_invited": "지금은 초대받은 몇 분만 IMMU를 쓸 수 있어서 아직 사진으로 음악을 만들어 드릴 수 없어요. 운영자에게 초대받았다면 내 ID를 알려 주세요: /id",
    "your_id": "내 텔레그램 사용자 ID: <code>{user_id}</code>",
    "banned_queued": "취소되었어요: 운영자가 IMMU 이용을 중지했어요.",
    "review_waiting": "고마워요! 곡이 운영자의 검토를 기다리고 있어요. 채널에 올라가면 알려 드릴게요.",
    "review_pending": "곡이 아직 운영자의 검토를 기다리고 있어요.",
    "review_declined": "운영자가 이 곡을 채널에 올리지 않기로 했어요.",
    "review_approved": "운영자가 곡을 승인했어요. 지금 채널에 있어요.",
    "post_declined": "이 곡은 채널에 올라가지 않아요.",
    "post_hidden": "신고가 접수되어 게시물을 내렸어요. 운영자가 살펴볼 거예요.",
    "post_restored": "운영자가 신고된 게시물을 살펴봤어요. 다시 채널에 올라갔어요.",
    "post_removed_for_good": "운영자가 신고된 게시물을 채널에서 완전히 삭제했어요.",
    "button_approve": "승인",
    "button_reject": "거절",
    "button_restore": "복원",
    "button_remove": "완전히 삭제",
    "button_report": "신고",
    "review_note": "검토: 게시물 {post}, 사용자 {user}",
    "reported_note": "신고 {count}회: 게시물 {post}, 사용자 {user}",
    "decided": "완료: {decision}.",
    "decision_gone": "이 게시물은 더 이상 없어요 (만든 사람이 삭제했어요).",
    "decision_taken": "이미 결정되었어요: 게시물 상태는 {status}.",
    "admins_only": "운영자 전용이에요.",
    "reported": "신고했어요. 운영자가 살펴볼 거예요.",
    "already_reported": "이미 신고한 게시물이에요.",
    "report_gone": "이 게시물은 더 이상 채널에 없어요.",
    "report_kept": "신고가 기록되었어요. 고마워요.",
    "report_banned": "운영자가 IMMU 이용을 멈춰 두어서 신고는 기록되지 않았어요.",
    "remix_not_public": "이 리믹스의 원본 게시물이 지금 채널에 없어서 리믹스를 올릴 수 없어요.",
    "decision_owner_banned": "작성자(사용자 {user})가 차단되어 있어서 게시물은 채널에 올리지 않아요.",
    "post_back_unreviewed": "신고된 게시물이 채널에 다시 올라갔어요. 운영자가 내리기로 결정하지 않았어요.",
    "operators_report_expired": "신고로 내려간 게시물 {post}에 대해 {hours}시간 안에 아무도 결정하지 않아서 채널에 다시 올렸어요.",
    "stats_reports": "신고된 게시물: {posts}, 가장 많이 신고된 게시물: {post} ({count}회)",
    "stats_reports_none": "신고된 게시물: 0",
    "ban_usage": "사용법: /ban USER_ID [--purge], /unban USER_ID",
    "ban_done": "사용자 {user} 차단. 끝낸 대기 작업: {jobs}. 삭제한 게시물: {posts}.",
    "purge_still_public": "채널이 게시물 {count}개의 삭제도 비우기도 거부해서 아직 공개되어 있어요. /ban을 다시 해 보세요.",
    "purge_unconfirmed": "텔레그램이 확인하지 않은 게시물 {count}개는 채널에 있을 수 있어 삭제하지 못했어요. 채널에서 찾아 주세요.",
    "ban_already": "사용자 {user}는 이미 차단되어 있어요. 삭제한 게시물: {posts}.",
    "unban_done": "사용자 {user}가 다시 사진을 보낼 수 있어요.",
    "unban_none": "사용자 {user}는 차단되어 있지 않았어요.",
}

CATALOGUE = dict(zip(LANGUAGES, (EN, KO), strict=True))


def language_of(code: str | None, chosen: str | None = None) -> str:
    """The person's language: their /lang choice, else Telegram's, else English."""
    if chosen in CATALOGUE:
        return chosen
    return "ko" if (code or "").lower().startswith("ko") else "en"


def text(lang: str, key: str, **values: object) -> str:
    """A message in ``lang``. Values are HTML-escaped: they may come from people or models."""
    template = CATALOGUE.get(lang, EN).get(key) or EN[key]
    escaped = {
        k: v if isinstance(v, int) else escape(str(v), quote=False) for k, v in values.items()
    }
    return _FORMS.format(template, **escaped)


def plain(lang: str, key: str, **values: object) -> str:
    """A text with values inserted as they are: for places that show no markup (button
    labels, audio titles) and for values that are already markup (lists of links)."""
    template = CATALOGUE.get(lang, EN).get(key) or EN[key]
    return _FORMS.format(template, **values)


class _PluralForms(string.Formatter):
    """``{n:plural:one|other}``: the form of a word for the count ``n``."""

    def format_field(self, value: object, format_spec: str) -> str:
        if format_spec.startswith("plural:"):
            one, other = format_spec.removeprefix("plural:").split("|")
            return one if value == 1 else other
        return super().format_field(value, format_spec)


_FORMS = _PluralForms()
