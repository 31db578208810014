// Where a public reply goes: the customer's latest public message (a comment under one of the
// account's Weibo posts, or a mention with its post), as the router places a rule's public
// comment (docs/replies.md, public comments). A mention pushed without its post has no place.
import type { ThreadItem } from "./api";

export interface PublicPlace {
  post_id: string;
  comment_id?: string;
  excerpt: string;
}

/** The public place of one inbound item, or null when it was private or has no post. */
export function placeOf(item: ThreadItem): PublicPlace | null {
  if (item.type !== "inbound" || !item.public) return null;
  const c = item.content ?? {};
  const post = item.post ?? c.post;
  if (!post?.id) return null;
  const excerpt = post.excerpt ?? "";
  if (item.kind === "comment" && c.comment_id) return { post_id: post.id, comment_id: c.comment_id, excerpt };
  if (item.kind === "mention") {
    if (c.subtype === "comment") return c.target_id ? { post_id: post.id, comment_id: c.target_id, excerpt } : null;
    return { post_id: c.target_id ?? post.id, excerpt };
  }
  return null;
}

/** The place of the customer's latest public message, if any. */
export function latestPlace(items: ThreadItem[]): PublicPlace | null {
  for (let i = items.length - 1; i >= 0; i--) {
    const place = placeOf(items[i]);
    if (place) return place;
  }
  return null;
}

/** Whether the customer last wrote in public: the composer then answers in public. */
export function lastWroteInPublic(items: ThreadItem[]): boolean {
  const last = [...items].reverse().find((i) => i.type === "inbound" && i.kind !== "event");
  return !!last && placeOf(last) !== null;
}
