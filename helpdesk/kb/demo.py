"""Demo knowledge base: a few real-sounding articles in English and French."""

from __future__ import annotations

from sqlalchemy import func, select

from helpdesk.extensions import db
from helpdesk.kb import service
from helpdesk.models.kb import Article

#: (category, {language: (title, Markdown)}, views, helpful yes, helpful no)
ARTICLES = [
    ("Account and sign-in", {
        "en": ("Reset your password", """If you forgot your password, you can choose a new one in a minute.

1. Open the **sign-in page** and choose *Forgot password?*
2. Enter the email address of your account.
3. Open the newest email we send and follow its link within **30 minutes**.

> Each new request cancels the links sent before it: always use the most recent email.

Still stuck? Check your spam folder, then [contact us](/contact)."""),
        "fr": ("Réinitialiser votre mot de passe", """Vous avez oublié votre mot de passe ? Choisissez-en un
nouveau en une minute.

1. Ouvrez la **page de connexion** et choisissez *Mot de passe oublié ?*
2. Saisissez l'adresse e-mail de votre compte.
3. Ouvrez le dernier e-mail reçu et suivez son lien dans les **30 minutes**.

> Chaque nouvelle demande annule les liens précédents : utilisez toujours le dernier e-mail.

Toujours bloqué ? Vérifiez vos courriers indésirables, puis [contactez-nous](/contact)."""),
    }, 412, 57, 6),
    ("Account and sign-in", {
        "en": ("Two-factor codes are late or missing", """Text messages can take a few minutes when networks are busy.

- Check that your phone number is correct under **Settings → Security**.
- Use the **authenticator app** option instead of SMS: its codes work offline.
- Keep your **backup codes** somewhere safe; each works once.

If a code never arrives after 10 minutes, ask for a new one."""),
    }, 198, 21, 4),
    ("Billing", {
        "en": ("Understanding your invoice", """Every invoice lists your plan, the number of seats and any
one-off charges.

| Line | What it means |
| --- | --- |
| Plan | Your monthly or yearly subscription |
| Seats | One per agent with access |
| Credit | Refunds or goodwill credits applied |

Invoices are available as PDF from **Billing → Invoices**. Add your VAT number there so it appears on the next
invoice."""),
        "fr": ("Comprendre votre facture", """Chaque facture indique votre formule, le nombre de postes et les
frais ponctuels.

| Ligne | Signification |
| --- | --- |
| Formule | Votre abonnement mensuel ou annuel |
| Postes | Un par agent ayant accès |
| Avoir | Remboursements ou gestes commerciaux appliqués |

Les factures sont disponibles en PDF dans **Facturation → Factures**. Ajoutez-y votre numéro de TVA pour qu'il
figure sur la prochaine facture."""),
    }, 305, 40, 9),
    ("Billing", {
        "en": ("I was charged twice", """A double charge is almost always a **pending authorisation** that
your bank releases within 3 to 5 business days.

If both charges are still there after 5 business days, reply to your receipt or [contact us](/contact) with
the invoice number (for example `INV-2291`) and we will refund the duplicate."""),
        "fr": ("J'ai été débité deux fois", """Un double débit est presque toujours une **autorisation en
attente** que votre banque libère sous 3 à 5 jours ouvrés.

Si les deux débits sont toujours là après 5 jours ouvrés, répondez à votre reçu ou [contactez-nous](/contact)
avec le numéro de facture (par exemple `INV-2291`) et nous rembourserons le doublon."""),
    }, 264, 33, 3),
    ("Orders and delivery", {
        "en": ("Change the delivery address of an order", """You can change the address until the order is **packed**.

1. Open **Orders** and choose the order.
2. Choose **Change address** and save.

Once an order has shipped, the carrier can sometimes redirect it: use the tracking link in your shipping email."""),
        "fr": ("Modifier l'adresse de livraison d'une commande", """Vous pouvez modifier l'adresse tant que la
commande n'est pas **emballée**.

1. Ouvrez **Commandes** et choisissez la commande.
2. Choisissez **Modifier l'adresse** et enregistrez.

Une fois la commande expédiée, le transporteur peut parfois la réacheminer : utilisez le lien de suivi de
l'e-mail d'expédition."""),
    }, 150, 18, 2),
    ("Orders and delivery", {
        "en": ("My item arrived damaged", """We are sorry! Please keep the packaging and send us, within **14 days**:

- your order number,
- two or three photos of the damage and of the box.

We will ship a replacement or refund you, whichever you prefer."""),
    }, 97, 12, 1),
]


def seed_kb_demo() -> str:
    """Add the demo categories and articles, unless the knowledge base already has articles."""
    if db.session.scalar(select(func.count(Article.id))):
        return "knowledge base: already has articles, nothing added"
    categories = {}
    for position, (name, texts, views, yes, no) in enumerate(ARTICLES):
        if name not in categories:
            categories[name] = service.save_category(name, position=len(categories))
        article = service.create_article(categories[name], position=position)
        for language, (title, body) in texts.items():
            service.save_translation(article, language, title, body, state="published")
        article.view_count, article.helpful_yes, article.helpful_no = views, yes, no
    first, second = db.session.scalars(select(Article).order_by(Article.id).limit(2)).all()
    service.set_related(first, [second.id])
    db.session.flush()
    return f"knowledge base: {len(ARTICLES)} articles in {len(categories)} categories"
