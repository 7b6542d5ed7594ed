/* IMMU's Mini App: the feed, a person's profile and a track's page, in one page.

   Telegram opens the page with its launch parameters in the URL fragment
   (#tgWebAppData=...&tgWebAppStartParam=...&tgWebAppThemeParams=...). The signed
   initData stays in memory and goes with every API call as "Authorization: tma ...";
   nothing is loaded from anywhere but this server. */
"use strict";

(() => {
  const STRINGS = {
    en: {
      title: "IMMU",
      tagline: "Music made from photos",
      nav_label: "Sections",
      nav_feed: "Feed",
      nav_top: "This week's top",
      nav_profile: "My profile",
      feed_heading: "Latest tracks",
      top_heading: "This week's top",
      top_intro: "The most liked tracks of the last seven days.",
      filters_label: "Filters",
      filter_mood: "Mood",
      filter_genre: "Genre",
      all_moods: "All moods",
      all_genres: "All genres",
      clear_filters: "Clear filters",
      load_more: "Load more",
      feed_end: "That's all for now.",
      feed_empty: "No tracks yet. Send the bot a photo to make the first one.",
      feed_empty_filtered: "No tracks match these filters.",
      top_empty: "No liked tracks this week yet.",
      loading: "Loading…",
      shown: "{n} tracks shown.",
      shown_one: "1 track shown.",
      loaded_more: "{n} more tracks loaded.",
      loaded_more_one: "1 more track loaded.",
      likes: "{n} likes",
      likes_one: "1 like",
      mood_is: "Mood: {v}",
      by: "by {name}",
      posted: "Posted {date}",
      length: "Length {d}",
      untitled: "Track {id}",
      cover_alt: "Cover photo: {photo}",
      cover_alt_none: "Cover photo of track {id}, not described",
      no_description: "No description of this music.",
      play: "Play {title}",
      audio_problem: "This track cannot be played right now.",
      in_channel: "See it in the channel",
      in_channel_label: "See it in the channel: {title}",
      open_track_label: "{title}: open the track's page",
      delete: "Delete",
      delete_label: "Delete {title}",
      confirm_title: "Delete this track?",
      confirm_text: "“{title}” will be removed from the channel and from the app. This cannot be undone.",
      cancel: "Cancel",
      confirm_delete: "Delete",
      deleting: "Deleting…",
      deleted: "Deleted.",
      back: "Back",
      remix: "Remix",
      make: "Make your own",
      remix_of: "The original it remixes",
      remixes: "Its remixes",
      no_remixes: "No remixes yet.",
      profile_own: "Your profile",
      profile_of: "{name}'s profile",
      profile_someone: "A profile",
      summary: "{n} tracks, {likes} likes in all",
      summary_one: "1 track, {likes} likes in all",
      own_tracks: "Your tracks",
      their_tracks: "Tracks",
      own_remixes: "Your remixes",
      their_remixes: "Their remixes",
      own_remixed: "Remixes of your tracks",
      their_remixed: "Remixes of their tracks",
      own_empty: "You have not posted anything yet. Send the bot a photo!",
      none_yet: "None yet.",
      settings: "Settings",
      set_anonymous: "Hide my name on my posts",
      set_describe: "Describe the photo on my posts (read out by screen readers)",
      set_language: "Language",
      save: "Save settings",
      saving: "Saving…",
      saved: "Settings saved.",
      retry: "Try again",
      err_unauthorized: "Open the app from Telegram again. This page's sign-in is missing or has expired.",
      err_rate: "Too many requests. Wait a minute, then try again.",
      err_network: "IMMU cannot be reached. Check your connection and try again.",
      err_forbidden: "Your account cannot see the feed.",
      err_track_gone: "This track is not available any more.",
      err_profile_hidden: "This profile is not public.",
      err_not_found: "This is not available any more.",
      err_server: "Something went wrong on IMMU's side. Try again later.",
    },
    ko: {
      title: "IMMU",
      tagline: "사진으로 만든 음악",
      nav_label: "메뉴",
      nav_feed: "피드",
      nav_top: "이번 주 인기",
      nav_profile: "내 프로필",
      feed_heading: "최신 트랙",
      top_heading: "이번 주 인기 트랙",
      top_intro: "지난 7일 동안 좋아요를 가장 많이 받은 트랙이에요.",
      filters_label: "필터",
      filter_mood: "분위기",
      filter_genre: "장르",
      all_moods: "모든 분위기",
      all_genres: "모든 장르",
      clear_filters: "필터 지우기",
      load_more: "더 보기",
      feed_end: "지금은 여기까지예요.",
      feed_empty: "아직 트랙이 없어요. 봇에게 사진을 보내 첫 트랙을 만들어 보세요.",
      feed_empty_filtered: "이 필터에 맞는 트랙이 없어요.",
      top_empty: "이번 주에는 아직 좋아요를 받은 트랙이 없어요.",
      loading: "불러오는 중…",
      shown: "트랙 {n}개를 표시했어요.",
      shown_one: "트랙 1개를 표시했어요.",
      loaded_more: "트랙 {n}개를 더 불러왔어요.",
      loaded_more_one: "트랙 1개를 더 불러왔어요.",
      likes: "좋아요 {n}개",
      likes_one: "좋아요 1개",
      mood_is: "분위기: {v}",
      by: "만든 사람: {name}",
      posted: "{date}에 올림",
      length: "길이 {d}",
      untitled: "트랙 {id}",
      cover_alt: "커버 사진: {photo}",
      cover_alt_none: "트랙 {id}의 커버 사진 (설명 없음)",
      no_description: "이 음악에 대한 설명이 없어요.",
      play: "{title} 재생",
      audio_problem: "지금은 이 트랙을 재생할 수 없어요.",
      in_channel: "채널에서 보기",
      in_channel_label: "채널에서 보기: {title}",
      open_track_label: "{title}: 트랙 페이지 열기",
      delete: "삭제",
      delete_label: "{title} 삭제",
      confirm_title: "이 트랙을 삭제할까요?",
      confirm_text: "“{title}” 트랙이 채널과 앱에서 삭제돼요. 되돌릴 수 없어요.",
      cancel: "취소",
      confirm_delete: "삭제",
      deleting: "삭제하는 중…",
      deleted: "삭제했어요.",
      back: "뒤로",
      remix: "리믹스하기",
      make: "나도 만들기",
      remix_of: "리믹스한 원곡",
      remixes: "이 트랙의 리믹스",
      no_remixes: "아직 리믹스가 없어요.",
      profile_own: "내 프로필",
      profile_of: "{name} 님의 프로필",
      profile_someone: "프로필",
      summary: "트랙 {n}개, 좋아요 총 {likes}개",
      summary_one: "트랙 1개, 좋아요 총 {likes}개",
      own_tracks: "내 트랙",
      their_tracks: "트랙",
      own_remixes: "내 리믹스",
      their_remixes: "이 사람의 리믹스",
      own_remixed: "내 트랙의 리믹스",
      their_remixed: "이 사람의 트랙을 리믹스한 트랙",
      own_empty: "아직 올린 트랙이 없어요. 봇에게 사진을 보내 주세요!",
      none_yet: "아직 없어요.",
      settings: "설정",
      set_anonymous: "내 게시물에 이름 숨기기",
      set_describe: "내 게시물에 사진 설명 넣기 (화면 낭독기가 읽어 줘요)",
      set_language: "언어",
      save: "설정 저장",
      saving: "저장하는 중…",
      saved: "설정을 저장했어요.",
      retry: "다시 시도",
      err_unauthorized: "텔레그램에서 앱을 다시 열어 주세요. 이 페이지의 로그인 정보가 없거나 만료되었어요.",
      err_rate: "요청이 너무 많아요. 1분 정도 기다린 뒤 다시 시도해 주세요.",
      err_network: "IMMU에 연결할 수 없어요. 인터넷 연결을 확인하고 다시 시도해 주세요.",
      err_forbidden: "이 계정으로는 피드를 볼 수 없어요.",
      err_track_gone: "이 트랙은 더 이상 볼 수 없어요.",
      err_profile_hidden: "공개되지 않은 프로필이에요.",
      err_not_found: "더 이상 볼 수 없어요.",
      err_server: "IMMU 쪽에 문제가 생겼어요. 잠시 후 다시 시도해 주세요.",
    },
  };
  const LANGUAGES = { en: "English", ko: "한국어" };
  const FEED_PAGE = 12;

  const $ = (id) => document.getElementById(id);
  const state = {
    initData: "",
    startParam: "",
    lang: "en",
    me: null, // GET api/me
    view: null, // {name: "feed"|"top"|"profile"|"track", id?}
    unauthorized: false,
    retry: null, // what "Try again" repeats
    feed: { before: null, done: false, loading: false, mood: "", genre: "", generation: 0, count: 0 },
    restoreFocus: null,
    loads: 0, // the latest view load: an older answer arriving late is dropped
    pendingDelete: null,
  };
  let uid = 0;
  const nextId = (prefix) => `${prefix}-${++uid}`;

  // --- words ---------------------------------------------------------------------------

  function t(key, vars = {}) {
    const table = STRINGS[state.lang] || STRINGS.en;
    const counted = typeof vars.n === "number" && vars.n === 1 && `${key}_one` in table;
    const template = table[counted ? `${key}_one` : key] ?? STRINGS.en[key] ?? key;
    return template.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : ""));
  }

  function applyStrings() {
    document.documentElement.lang = state.lang;
    document.title = t("title");
    for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
    for (const node of document.querySelectorAll("[data-i18n-aria]")) {
      node.setAttribute("aria-label", t(node.dataset.i18nAria));
    }
  }

  function chooseLanguage(code) {
    const lang = String(code || "").toLowerCase().startsWith("ko") ? "ko" : "en";
    if (lang !== state.lang) {
      state.lang = lang;
      applyStrings();
      return true;
    }
    applyStrings();
    return false;
  }

  // --- launch parameters and theme -------------------------------------------------------

  function readLaunch() {
    const params = new URLSearchParams(location.hash.replace(/^#/, ""));
    state.initData = params.get("tgWebAppData") || "";
    const data = new URLSearchParams(state.initData);
    state.startParam = params.get("tgWebAppStartParam") || data.get("start_param") || "";
    try {
      // only the first words' language, before the server says: never trusted for anything else
      chooseLanguage(JSON.parse(data.get("user") || "{}").language_code);
    } catch {
      chooseLanguage("en");
    }
    applyTheme(params.get("tgWebAppThemeParams"));
  }

  /* Telegram's theme, where the launch passes one, as long as its words stay readable:
     a colour that does not reach WCAG AA's 4.5:1 on the page (a hint, a link, a
     destructive red) gives way to the theme's text colour. */
  function applyTheme(raw) {
    if (!raw) return;
    let theme;
    try {
      theme = JSON.parse(raw);
    } catch {
      return;
    }
    if (!theme || typeof theme !== "object") return;
    const colour = (key) => {
      const value = theme[key];
      if (typeof value !== "string" || !/^#([0-9a-f]{3}|[0-9a-f]{6})$/i.test(value)) return null;
      return value.length === 4 ? value.replace(/^#(.)(.)(.)$/, "#$1$1$2$2$3$3") : value;
    };
    const bg = colour("bg_color");
    const text = colour("text_color");
    if (!bg || !text || contrast(text, bg) < 4.5) return; // no usable theme: the defaults
    let card = colour("secondary_bg_color") || bg;
    if (contrast(text, card) < 4.5) card = bg;
    const readable = (fg) => (fg && contrast(fg, bg) >= 4.5 && contrast(fg, card) >= 4.5 ? fg : text);
    const accent = colour("accent_text_color") || colour("link_color");
    const palette = {
      "--tg-bg": bg,
      "--tg-text": text,
      "--tg-card": card,
      "--tg-hint": readable(colour("hint_color")),
      "--tg-link": readable(colour("link_color")),
      "--tg-danger": readable(colour("destructive_text_color")),
      "--tg-line": colour("section_separator_color") || colour("hint_color") || text,
      "--tg-focus": accent && contrast(accent, bg) >= 3 ? accent : text,
    };
    const button = colour("button_color");
    const buttonText = colour("button_text_color");
    const usable = button && buttonText && contrast(button, buttonText) >= 4.5;
    palette["--tg-button"] = usable ? button : text;
    palette["--tg-button-text"] = usable ? buttonText : bg;
    const root = document.documentElement.style;
    for (const [property, value] of Object.entries(palette)) root.setProperty(property, value);
    // the browser's own parts (scroll bars, the player) in the theme's lightness
    root.setProperty("color-scheme", luminance(bg) < 0.2 ? "dark" : "light");
  }

  function luminance(hex) {
    const [r, g, b] = [1, 3, 5].map((i) => {
      const c = parseInt(hex.slice(i, i + 2), 16) / 255;
      return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  }

  function contrast(a, b) {
    const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p);
    return (x + 0.05) / (y + 0.05);
  }

  // --- the API -------------------------------------------------------------------------

  class Problem extends Error {
    constructor(kind, status = 0, body = null) {
      super(kind);
      this.kind = kind;
      this.status = status;
      this.body = body; // the server's JSON, where it sent one
    }
  }

  async function api(path, { method = "GET", body } = {}) {
    if (!state.initData) throw new Problem("unauthorized", 401);
    let response;
    try {
      response = await fetch(new URL(`api/${path}`, document.baseURI), {
        method,
        headers: {
          Authorization: `tma ${state.initData}`,
          Accept: "application/json",
          ...(body === undefined ? {} : { "Content-Type": "application/json" }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
        credentials: "omit",
      });
    } catch {
      throw new Problem("network");
    }
    if (!response.ok) {
      const kinds = { 401: "unauthorized", 403: "forbidden", 404: "not_found", 429: "rate" };
      let said = null;
      try {
        said = await response.json();
      } catch {
        said = null;
      }
      throw new Problem(kinds[response.status] || "server", response.status, said);
    }
    try {
      return await response.json();
    } catch {
      throw new Problem("server", response.status);
    }
  }

  // --- status and problems ---------------------------------------------------------------

  let saying = 0;
  function say(message) {
    const node = $("status");
    node.textContent = "";
    window.clearTimeout(saying);
    // emptied first: screen readers announce a message again when it comes back
    saying = window.setTimeout(() => { node.textContent = message; }, 30);
  }

  function problem(error, retry, notFoundKey = "err_not_found") {
    const kind = error instanceof Problem ? error.kind : "server";
    if (!(error instanceof Problem)) console.error(error);
    const keys = {
      unauthorized: "err_unauthorized",
      rate: "err_rate",
      network: "err_network",
      forbidden: "err_forbidden",
      not_found: notFoundKey,
      server: "err_server",
    };
    window.clearTimeout(saying);
    $("status").textContent = "";
    $("problem-text").textContent = t(keys[kind] || "err_server");
    state.retry = kind === "unauthorized" || kind === "not_found" || kind === "forbidden" ? null : retry;
    $("problem-retry").hidden = !state.retry;
    $("problem").hidden = false;
    if (kind === "unauthorized") {
      // nothing of anyone's is shown to a page that cannot prove who opens it
      state.unauthorized = true;
      for (const id of ["feed-list", "top-list", "profile-body", "track-body"]) $(id).replaceChildren();
      for (const id of ["feed-more", "feed-end", "feed-empty", "top-empty", "filters"]) $(id).hidden = true;
      $("nav").hidden = true;
    }
  }

  function clearProblem() {
    if (state.unauthorized) return;
    $("problem").hidden = true;
    state.retry = null;
  }

  // --- building blocks -------------------------------------------------------------------

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "text") node.textContent = value;
      else if (name === "on") for (const [event, fn] of Object.entries(value)) node.addEventListener(event, fn);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children) if (child) node.append(child);
    return node;
  }

  function titleOf(post) {
    const genre = (post.genre || "").trim();
    return genre || t("untitled", { id: post.id });
  }

  function clock(seconds) {
    const s = Math.max(0, Math.round(Number(seconds) || 0));
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  }

  function day(iso) {
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return "";
    return date.toLocaleDateString(state.lang === "ko" ? "ko-KR" : "en-GB", {
      year: "numeric",
      month: "short",
      day: "numeric",
    });
  }

  /* One track as an article. Its heading names it (genre), its accessible description is
     the plain-language description of the music, also shown as text. */
  function postCard(post, { level = 3, main = false, deletable = false } = {}) {
    const title = titleOf(post);
    const headingId = nextId("post");
    const descriptionId = nextId("desc");
    const article = el("article", {
      class: main ? "post main" : "post",
      "aria-labelledby": main ? "track-heading" : headingId,
      "aria-describedby": descriptionId,
      "data-post": post.id,
    });
    const photo = (post.photo || "").trim();
    article.append(
      el("img", {
        class: "cover",
        src: post.cover_url,
        alt: photo ? t("cover_alt", { photo }) : t("cover_alt_none", { id: post.id }),
        width: 320,
        height: 320,
        loading: main ? "eager" : "lazy",
        decoding: "async",
      })
    );
    if (!main) {
      const open = el("button", {
        type: "button",
        class: "link",
        text: title,
        "aria-label": t("open_track_label", { title }),
        on: { click: () => go({ name: "track", id: post.id }) },
      });
      article.append(el(`h${level}`, { class: "post-title", id: headingId }, open));
    }
    const description = (post.description || "").trim();
    article.append(
      el("p", { class: "description", id: descriptionId, text: description || t("no_description") })
    );

    const meta = el("ul", { class: "meta" });
    if (post.mood) meta.append(el("li", { text: t("mood_is", { v: post.mood }) }));
    meta.append(el("li", { class: "likes", text: t("likes", { n: Number(post.likes) || 0 }) }));
    if (post.duration_s) meta.append(el("li", { text: t("length", { d: clock(post.duration_s) }) }));
    const when = day(post.created_at);
    if (when) meta.append(el("li", { text: t("posted", { date: when }) }));
    if (post.author && post.author.name) {
      const author = post.author;
      meta.append(
        el(
          "li",
          {},
          el("button", {
            type: "button",
            class: "link",
            text: t("by", { name: author.name }),
            on: { click: () => go({ name: "profile", id: author.handle }) },
          })
        )
      );
    }
    article.append(meta);

    const audio = el("audio", {
      controls: true,
      preload: "none",
      src: post.audio_url,
      "aria-label": t("play", { title }),
    });
    const audioProblem = el("p", { class: "audio-problem", role: "status", hidden: true });
    audio.addEventListener("error", () => {
      audioProblem.textContent = t("audio_problem");
      audioProblem.hidden = false;
    });
    article.append(audio, audioProblem);

    const links = el("p", { class: "links" });
    if (post.channel_url) {
      links.append(
        el("a", {
          href: post.channel_url,
          target: "_blank",
          rel: "noopener noreferrer",
          text: t("in_channel"),
          "aria-label": t("in_channel_label", { title }),
        })
      );
    }
    if (deletable) {
      links.append(
        el("button", {
          type: "button",
          class: "danger",
          text: t("delete"),
          "aria-label": t("delete_label", { title }),
          "data-delete": post.id,
          on: { click: (event) => askDelete(post, event.currentTarget) },
        })
      );
    }
    if (links.childElementCount) article.append(links);
    return article;
  }

  function postList(posts, options) {
    const list = el("ol", { class: "posts" });
    for (const post of posts) list.append(el("li", {}, postCard(post, options)));
    return list;
  }

  // --- views -----------------------------------------------------------------------------

  const VIEWS = { feed: "view-feed", top: "view-top", profile: "view-profile", track: "view-track" };

  function show(view, { focus = true } = {}) {
    state.view = view;
    clearProblem();
    for (const [name, id] of Object.entries(VIEWS)) $(id).hidden = name !== view.name;
    const mine = view.name === "profile" && state.me && view.id === state.me.user.handle;
    for (const button of document.querySelectorAll("#nav [data-go]")) {
      const target = button.dataset.go;
      const current = target === view.name || (target === "me" && mine);
      if (current) button.setAttribute("aria-current", "page");
      else button.removeAttribute("aria-current");
    }
    if (state.unauthorized) return;
    const heading = $(`${view.name}-heading`);
    if (view.name === "feed") {
      if (!state.feed.count && !state.feed.loading) resetFeed();
    } else if (view.name === "top") {
      loadTop();
    } else if (view.name === "profile") {
      loadProfile(view.id);
    } else if (view.name === "track") {
      loadTrack(view.id);
    }
    if (focus && heading) heading.focus({ preventScroll: false });
  }

  function go(view) {
    if (state.unauthorized) return;
    const depth = ((history.state && history.state.depth) || 0) + 1;
    history.pushState({ view, depth }, "", location.href);
    show(view);
  }

  window.addEventListener("popstate", (event) => {
    const view = event.state && event.state.view;
    if (view) show(view);
  });

  // --- the feed --------------------------------------------------------------------------

  function resetFeed() {
    const feed = state.feed;
    feed.before = null;
    feed.done = false;
    feed.count = 0;
    feed.loading = false;
    feed.generation += 1;
    $("feed-list").replaceChildren();
    $("feed-more").hidden = true;
    $("feed-end").hidden = true;
    $("feed-empty").hidden = true;
    loadFeed();
  }

  async function loadFeed({ fromButton = false } = {}) {
    const feed = state.feed;
    if (feed.loading || feed.done || state.unauthorized) return;
    feed.loading = true;
    const generation = feed.generation;
    const list = $("feed-list");
    list.setAttribute("aria-busy", "true");
    $("feed-more").disabled = true;
    say(t("loading"));
    const query = new URLSearchParams({ limit: String(FEED_PAGE) });
    if (feed.before !== null) query.set("before", String(feed.before));
    if (feed.mood) query.set("mood", feed.mood);
    if (feed.genre) query.set("genre", feed.genre);
    let answer;
    try {
      answer = await api(`feed?${query}`);
    } catch (error) {
      if (generation === feed.generation) {
        feed.loading = false;
        list.setAttribute("aria-busy", "false");
        $("feed-more").disabled = false;
        problem(error, () => loadFeed());
      }
      return;
    }
    if (generation !== feed.generation) return; // the filters changed meanwhile
    clearProblem();
    // the lists come with the first page only: later pages keep the ones it gave
    if (Array.isArray(answer.moods)) fillFilter($("filter-mood"), answer.moods, feed.mood);
    if (Array.isArray(answer.genres)) fillFilter($("filter-genre"), answer.genres, feed.genre);
    const posts = answer.posts || [];
    let first = null;
    for (const post of posts) {
      const card = postCard(post, { level: 3 });
      first = first || card;
      list.append(el("li", {}, card));
    }
    const added = posts.length;
    const firstPage = feed.count === 0;
    feed.count += added;
    feed.before = answer.next_before ?? null;
    feed.done = feed.before === null;
    feed.loading = false;
    list.setAttribute("aria-busy", "false");
    $("feed-more").disabled = false;
    $("feed-more").hidden = feed.done;
    $("feed-end").hidden = !feed.done || feed.count === 0;
    const empty = $("feed-empty");
    empty.hidden = feed.count > 0;
    empty.textContent = feed.mood || feed.genre ? t("feed_empty_filtered") : t("feed_empty");
    if (feed.count === 0) say(empty.textContent);
    else say(firstPage ? t("shown", { n: feed.count }) : t("loaded_more", { n: added }));
    if (fromButton && first) {
      const target = first.querySelector(".post-title button");
      if (target) target.focus();
    }
    // the sentinel may still be in sight after a short page: look again
    if (observer && !feed.done) {
      observer.unobserve($("feed-sentinel"));
      observer.observe($("feed-sentinel"));
    }
  }

  function fillFilter(select, values, chosen) {
    const wanted = [...new Set(values.map(String).filter(Boolean))];
    if (chosen && !wanted.includes(chosen)) wanted.unshift(chosen);
    const have = [...select.options].slice(1).map((option) => option.value);
    if (have.length === wanted.length && have.every((v, i) => v === wanted[i])) return;
    select.replaceChildren(select.options[0]);
    for (const value of wanted) select.append(el("option", { value, text: value }));
    select.value = chosen;
  }

  let observer = null;

  function setUpFeedControls() {
    const filters = $("filters");
    const changed = () => {
      state.feed.mood = $("filter-mood").value;
      state.feed.genre = $("filter-genre").value;
      resetFeed();
    };
    $("filter-mood").addEventListener("change", changed);
    $("filter-genre").addEventListener("change", changed);
    filters.addEventListener("submit", (event) => event.preventDefault());
    filters.addEventListener("reset", () => window.setTimeout(changed, 0));
    $("feed-more").addEventListener("click", () => loadFeed({ fromButton: true }));
    if ("IntersectionObserver" in window) {
      observer = new IntersectionObserver(
        (entries) => {
          const seen = entries.some((entry) => entry.isIntersecting);
          if (seen && state.view && state.view.name === "feed" && state.feed.count > 0) loadFeed();
        },
        { rootMargin: "0px 0px 400px 0px" }
      );
      observer.observe($("feed-sentinel"));
    }
  }

  // --- this week's top -------------------------------------------------------------------

  async function loadTop() {
    const load = ++state.loads;
    const list = $("top-list");
    list.setAttribute("aria-busy", "true");
    say(t("loading"));
    let answer;
    try {
      answer = await api("top");
    } catch (error) {
      if (load !== state.loads) return;
      list.setAttribute("aria-busy", "false");
      problem(error, loadTop);
      return;
    }
    if (load !== state.loads) return;
    clearProblem();
    const posts = answer.posts || [];
    list.replaceChildren(...posts.map((post) => el("li", {}, postCard(post, { level: 3 }))));
    list.setAttribute("aria-busy", "false");
    $("top-empty").hidden = posts.length > 0;
    say(posts.length ? t("shown", { n: posts.length }) : t("top_empty"));
  }

  // --- a profile -------------------------------------------------------------------------

  async function loadProfile(handle) {
    const load = ++state.loads;
    const body = $("profile-body");
    const heading = $("profile-heading");
    if (!heading.textContent) heading.textContent = t("profile_someone");
    body.setAttribute("aria-busy", "true");
    say(t("loading"));
    let answer;
    try {
      answer = await api(`profile/${encodeURIComponent(handle)}`);
    } catch (error) {
      if (load !== state.loads) return;
      body.setAttribute("aria-busy", "false");
      body.replaceChildren();
      heading.textContent = t("profile_someone");
      problem(error, () => loadProfile(handle), "err_profile_hidden");
      return;
    }
    if (load !== state.loads) return;
    clearProblem();
    renderProfile(answer);
    body.setAttribute("aria-busy", "false");
    say(t("shown", { n: (answer.posts || []).length }));
  }

  function renderProfile(answer) {
    const own = Boolean(answer.own);
    const name = answer.user && answer.user.name;
    $("profile-heading").textContent = own ? t("profile_own") : name ? t("profile_of", { name }) : t("profile_someone");
    const posts = answer.posts || [];
    const body = $("profile-body");
    body.replaceChildren();
    body.append(
      el("p", { class: "summary", text: t("summary", { n: posts.length, likes: Number(answer.likes) || 0 }) })
    );
    const section = (key, items, emptyText, deletable = false) => {
      const id = nextId("section");
      const block = el("section", { "aria-labelledby": id }, el("h3", { id, text: t(key) }));
      block.append(items.length ? postList(items, { level: 4, deletable }) : el("p", { class: "note", text: emptyText }));
      body.append(block);
    };
    section(own ? "own_tracks" : "their_tracks", posts, own ? t("own_empty") : t("none_yet"), own);
    section(own ? "own_remixes" : "their_remixes", answer.remixes || [], t("none_yet"));
    section(own ? "own_remixed" : "their_remixed", answer.remixed || [], t("none_yet"));
    if (own && answer.settings) body.append(settingsForm(answer.settings));
  }

  function settingsForm(settings) {
    const headingId = nextId("settings");
    const form = el("form", { class: "settings", "aria-labelledby": headingId });
    form.append(el("h3", { id: headingId, text: t("settings") }));
    const check = (name, key) => {
      const id = nextId(name);
      const input = el("input", { type: "checkbox", id, name, checked: Boolean(settings[name]) });
      return el("div", { class: "check" }, input, el("label", { for: id, text: t(key) }));
    };
    form.append(check("anonymous", "set_anonymous"), check("describe", "set_describe"));
    const fieldset = el("fieldset", {}, el("legend", { text: t("set_language") }));
    for (const [code, label] of Object.entries(LANGUAGES)) {
      const id = nextId(`lang-${code}`);
      const input = el("input", {
        type: "radio",
        id,
        name: "language",
        value: code,
        checked: (settings.language || state.lang) === code,
      });
      fieldset.append(el("div", { class: "check" }, input, el("label", { for: id, lang: code, text: label })));
    }
    form.append(fieldset);
    const save = el("button", { type: "submit", text: t("save") });
    form.append(el("p", { class: "actions" }, save));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const chosen = {
        anonymous: form.elements.anonymous.checked,
        describe: form.elements.describe.checked,
        language: form.elements.language.value || state.lang,
      };
      save.disabled = true;
      say(t("saving"));
      let answer;
      try {
        answer = await api("settings", { method: "POST", body: chosen });
      } catch (error) {
        save.disabled = false;
        problem(error, () => form.requestSubmit());
        return;
      }
      clearProblem();
      const now = (answer && answer.settings) || chosen;
      if (state.me) Object.assign(state.me.user, now);
      const switched = chooseLanguage(now.language);
      if (switched) {
        // every word on the page in the new language; the feed's cards too
        state.feed.count = 0;
        await loadProfile(state.view.id);
        const first = document.querySelector("#profile-body form.settings button[type=submit]");
        if (first) first.focus();
      } else {
        save.disabled = false;
      }
      say(t("saved"));
    });
    return form;
  }

  // --- deleting a post -------------------------------------------------------------------

  function askDelete(post, button) {
    const dialog = $("confirm");
    state.pendingDelete = post;
    state.restoreFocus = button;
    $("confirm-text").textContent = t("confirm_text", { title: titleOf(post) });
    dialog.returnValue = "";
    dialog.showModal();
    $("confirm-cancel").focus();
  }

  function setUpDialog() {
    const dialog = $("confirm");
    dialog.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.preventDefault();
        dialog.close("cancel");
      }
    });
    dialog.addEventListener("close", () => {
      const post = state.pendingDelete;
      state.pendingDelete = null;
      if (dialog.returnValue === "delete" && post) {
        deletePost(post);
      } else if (state.restoreFocus && state.restoreFocus.isConnected) {
        state.restoreFocus.focus();
      }
    });
  }

  async function deletePost(post) {
    const button = state.restoreFocus;
    if (button) button.disabled = true;
    say(t("deleting"));
    let answer;
    try {
      answer = await api(`posts/${encodeURIComponent(post.id)}/delete`, { method: "POST", body: {} });
    } catch (error) {
      const said = error instanceof Problem && error.kind === "not_found" && error.body && error.body.message;
      if (said) {
        // gone already (deleted elsewhere, or not this person's): the server says so
        answer = { ok: true, message: said };
      } else {
        if (button) {
          button.disabled = false;
          button.focus();
        }
        problem(error, () => deletePost(post), "err_track_gone");
        return;
      }
    }
    clearProblem();
    const message = (answer && answer.message) || t("deleted");
    if (answer && answer.ok) {
      for (const card of document.querySelectorAll(`article[data-post="${post.id}"]`)) {
        const item = card.closest("li") || card;
        item.remove();
      }
      state.feed.count = 0; // the feed is loaded anew when next shown
      if (state.view && state.view.name === "profile") {
        await loadProfile(state.view.id);
        $("profile-heading").focus();
      }
    } else if (button && button.isConnected) {
      button.disabled = false;
      button.focus();
    }
    say(message);
  }

  // --- a track's page --------------------------------------------------------------------

  async function loadTrack(postId) {
    const load = ++state.loads;
    const body = $("track-body");
    const heading = $("track-heading");
    if (!heading.textContent) heading.textContent = t("untitled", { id: postId });
    body.setAttribute("aria-busy", "true");
    say(t("loading"));
    let answer;
    try {
      answer = await api(`track/${encodeURIComponent(postId)}`);
    } catch (error) {
      if (load !== state.loads) return;
      body.setAttribute("aria-busy", "false");
      body.replaceChildren();
      heading.textContent = t("untitled", { id: postId });
      problem(error, () => loadTrack(postId), "err_track_gone");
      return;
    }
    if (load !== state.loads) return;
    clearProblem();
    const post = answer.post;
    heading.textContent = titleOf(post);
    body.replaceChildren(postCard(post, { main: true }));
    const links = el("p", { class: "links track-links" });
    if (answer.remix_url) {
      links.append(el("a", { href: answer.remix_url, target: "_blank", rel: "noopener noreferrer", text: t("remix") }));
    }
    const make = answer.make_url || (state.me && state.me.make_url);
    if (make) {
      links.append(
        el("a", { href: make, class: "secondary", target: "_blank", rel: "noopener noreferrer", text: t("make") })
      );
    }
    body.append(links);
    if (answer.remix_of) {
      const id = nextId("remix-of");
      body.append(
        el(
          "section",
          { "aria-labelledby": id },
          el("h3", { id, text: t("remix_of") }),
          postList([answer.remix_of], { level: 4 })
        )
      );
    }
    const remixes = answer.remixes || [];
    const id = nextId("remixes");
    body.append(
      el(
        "section",
        { "aria-labelledby": id },
        el("h3", { id, text: t("remixes") }),
        remixes.length ? postList(remixes, { level: 4 }) : el("p", { class: "note", text: t("no_remixes") })
      )
    );
    body.setAttribute("aria-busy", "false");
    say(""); // the heading names the track, and takes the focus when tapped
  }

  // --- start -----------------------------------------------------------------------------

  function firstView() {
    const match = /^post-(\d+)$/.exec(state.startParam);
    if (match) return { name: "track", id: Number(match[1]) };
    if (state.startParam === "me" && state.me) return { name: "profile", id: state.me.user.handle };
    return { name: "feed" };
  }

  async function start() {
    readLaunch();
    setUpFeedControls();
    setUpDialog();
    for (const button of document.querySelectorAll("#nav [data-go]")) {
      button.addEventListener("click", () => {
        const target = button.dataset.go;
        if (target === "me") {
          if (state.me) go({ name: "profile", id: state.me.user.handle });
          else loadMe().then(() => state.me && go({ name: "profile", id: state.me.user.handle }));
        } else {
          go({ name: target });
        }
      });
    }
    for (const button of document.querySelectorAll("[data-back]")) {
      button.addEventListener("click", () => {
        if (history.state && history.state.depth > 0) history.back();
        else go({ name: "feed" });
      });
    }
    $("problem-retry").addEventListener("click", () => {
      const retry = state.retry;
      clearProblem();
      if (retry) retry();
    });
    await open();
  }

  async function open() {
    if (!state.initData) {
      problem(new Problem("unauthorized", 401));
      return;
    }
    say(t("loading"));
    await loadMe();
    if (!state.me) return;
    const view = firstView();
    history.replaceState({ view, depth: 0 }, "", location.href);
    show(view, { focus: false });
  }

  async function loadMe() {
    let me;
    try {
      me = await api("me");
    } catch (error) {
      problem(error, () => open());
      return;
    }
    state.me = me;
    chooseLanguage(me.user && me.user.language);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
