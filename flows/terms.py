"""The Net Answer terms the member agrees to: the sandbox issuer's full text, version by
version, in each language, cut into pages that fit a chat message.

A stand-in written for the sandbox (the issuer supplies the binding text); the summary
the terms question shows is in the message catalog.
"""

VERSION = "2026-04"
#: Articles per page (the same in every language), each page short enough to read on a
#: phone: the title and articles 1-4, 5-7, then 8-10.
_PAGES = ((0, 1, 2, 3, 4), (5, 6, 7), (8, 9, 10, 11))
COUNT = len(_PAGES)

_JA = (
    "Netアンサー会員規約（サンドボックス版 {version}）",
    "第1条（目的）本規約は、株式会社クレディセゾン（以下「当社」）が発行するカードの会員"
    "（以下「会員」）が、インターネットを通じて当社所定の方法で利用するサービス"
    "「Netアンサー」（以下「本サービス」）の利用条件を定めます。",
    "第2条（登録）本サービスの登録はカードごとに行います。会員は、当社所定の方法により"
    "本人であることを確認したうえで登録するものとします。登録時に会員が入力した情報に"
    "誤りがあった場合、当社は登録を取り消すことがあります。",
    "第3条（NetアンサーIDとパスワード）会員は、NetアンサーIDおよびパスワードを自らの"
    "責任で管理し、第三者に知らせたり貸与したりしないものとします。当社は、NetアンサーID"
    "とパスワードの一致を確認したときは、会員本人による利用とみなします。",
    "第4条（ご利用明細の電磁的交付）本サービスに登録した会員には、毎月のご利用明細を"
    "本サービス上でお知らせし、紙の明細書の郵送を停止します。ただし、法令の定めにより"
    "または当社が必要と認めた場合は郵送することがあります。会員は、登録後に本サービスから"
    "郵送への切り替えを申し込むことができます。",
    "第5条（本人認証サービス）本サービスに登録した会員は、インターネットでのカード利用時の"
    "本人認証サービス（3Dセキュア）に自動で登録されます。本人認証にはNetアンサーの"
    "パスワードまたは当社所定の認証方法を用います。",
    "第6条（外部サービスとの連携）本サービスを再登録した場合、NetアンサーIDが変わるため、"
    "当社または提携先の外部サービスとの連携は解除されます。会員は各サービスで"
    "連携をやり直すものとします。",
    "第7条（メールによるお知らせ）当社は、会員が登録したメールアドレスに、本サービスに"
    "関する重要なお知らせを送ります。メールマガジンの受け取りは、会員がいつでも変更できます。",
    "第8条（停止・中断）当社は、システムの保守、障害、その他やむを得ない事由があるときは、"
    "会員に事前に通知することなく本サービスの全部または一部を停止または中断することが"
    "あります。",
    "第9条（禁止事項）会員は、本サービスを不正の目的で利用したり、当社または第三者の"
    "権利を侵害したり、本サービスの運営を妨げたりしてはなりません。",
    "第10条（規約の変更）当社は、民法の定めに従い本規約を変更することがあります。変更後の"
    "規約は、当社所定の方法で会員に周知した時点から効力を生じます。",
    "以上",
)

_EN = (
    "Net Answer member terms (sandbox edition {version})",
    "Article 1 (Purpose) These terms set the conditions under which members holding a card "
    'issued by Credit Saison Co., Ltd. ("we") use Net Answer ("the service") over the '
    "internet in the way we specify.",
    "Article 2 (Registration) The service is registered card by card. Members register after "
    "proving who they are in the way we specify. We may cancel a registration made with "
    "wrong information.",
    "Article 3 (ID and password) Members keep their Net Answer ID and password under their own "
    "care and never tell or lend them to anyone. When the ID and password match, we treat the "
    "use as the member's own.",
    "Article 4 (Statements on the web) Registered members receive their monthly statement on the "
    "service, and paper statements stop, except where the law requires one or we decide one is "
    "needed. Members may ask for paper statements again on the service after registering.",
    "Article 5 (3-D Secure) Registered members are enrolled automatically in 3-D Secure, the "
    "identity check for card payments on the internet, which uses the Net Answer password or "
    "another method we specify.",
    "Article 6 (Linked services) Registering again changes the Net Answer ID, so services linked "
    "to the old ID, ours or our partners', are unlinked; members link them again on each "
    "service.",
    "Article 7 (Notices by email) We send important notices about the service to the email "
    "addresses members register. Members may change their newsletter choice at any time.",
    "Article 8 (Suspension) We may suspend or stop all or part of the service without prior "
    "notice for maintenance, failures or other unavoidable reasons.",
    "Article 9 (Prohibited use) Members must not use the service for fraudulent purposes, "
    "infringe our or anyone's rights, or hinder the running of the service.",
    "Article 10 (Changes) We may change these terms as the Civil Code allows. Changed terms take "
    "effect once we have made them known to members in the way we specify.",
    "End of terms",
)

TEXT = {"ja": _JA, "en": _EN}


def pages(lang: str) -> list[str]:
    """The full text of the current version in ``lang``, page by page, each ending with
    where it stands ("(2/3)")."""
    articles = [article.format(version=VERSION) for article in TEXT[lang]]
    return [
        "\n".join(articles[index] for index in page) + f"\n({number}/{COUNT})"
        for number, page in enumerate(_PAGES, 1)
    ]
