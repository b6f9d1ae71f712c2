/** Users and tokens as the API shows them: never a password hash or a token digest. */
import type { TokenView, UserView } from '@fl/shared';
import type { TokenRecord, UserRecord } from '../storage/store';

export const toUserView = (u: UserRecord): UserView => ({ name: u.name, role: u.role, createdAt: u.createdAt });

export const toTokenView = (t: TokenRecord): TokenView => ({ id: t.id, user: t.user, label: t.label, createdAt: t.createdAt });
